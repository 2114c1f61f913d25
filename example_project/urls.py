from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.urls import include, path

from example_project.views import ApiIndexView, MeView, demo_page

urlpatterns = [
    path("", demo_page, name="demo"),
    path("admin/", admin.site.urls),
    path("auth/", include("tokenauth.urls")),
    path("api/", ApiIndexView.as_view(), name="api"),
    path("api/me/", MeView.as_view(), name="me"),
]

if apps.is_installed("drf_spectacular"):  # settings.py adds it when it is installed
    from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

    urlpatterns += [
        path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
        path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    ]
