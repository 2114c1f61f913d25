from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView


class MeView(APIView):
    def get(self, request):  # type: ignore[no-untyped-def]
        return Response({"id": request.user.pk, "username": request.user.get_username()})


class WhoAmIView(APIView):
    """Touches only what the lazy user gives for free."""

    def get(self, request):  # type: ignore[no-untyped-def]
        return Response({"id": request.user.pk, "authenticated": request.user.is_authenticated})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("auth/", include("tokenauth.urls")),
    path("api/me/", MeView.as_view()),
    path("api/whoami/", WhoAmIView.as_view()),
]
