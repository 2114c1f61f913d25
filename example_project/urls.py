from __future__ import annotations

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
