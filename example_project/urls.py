from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from example_project.views import IndexView, MeView

urlpatterns = [
    path("", IndexView.as_view()),
    path("admin/", admin.site.urls),
    path("auth/", include("tokenauth.urls")),
    path("api/me/", MeView.as_view()),
]
