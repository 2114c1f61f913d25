"""The example project's views: the demo page at ``/``, what to try at ``/api/``, and a
protected resource at ``/api/me/``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from example_project import demo_user


def demo_page(request: HttpRequest) -> HttpResponse:
    """A page to click through: the bundled client.js in cookie mode."""
    context = {
        "username": demo_user.USERNAME,
        "password": demo_user.PASSWORD,
        # The client's baseUrl: where tokenauth.urls is mounted ("/auth/").
        "auth_url": reverse("tokenauth:login").removesuffix("login/"),
        "me_url": reverse("me"),
    }
    return render(request, "demo/index.html", context)


class MeSerializer(serializers.Serializer[dict[str, object]]):
    id = serializers.IntegerField()
    username = serializers.CharField()
    access_token_expires_in = serializers.IntegerField(
        help_text="Seconds the access token has left."
    )


class MeView(APIView):
    """A protected resource: who the access token belongs to, and how long it has left.

    ``access_token_expires_in`` is relative (seconds), so a page whose clock is off still
    counts down right.
    """

    serializer_class = MeSerializer  # what the OpenAPI schema shows (drf-spectacular)

    def get(self, request: Request) -> Response:
        expires_at = request.auth.expires_at  # type: ignore[union-attr]  # AccessClaims
        expires_in = max(0, expires_at - int(timezone.now().timestamp()))
        return Response(
            {
                "id": request.user.pk,
                "username": request.user.get_username(),
                "access_token_expires_in": expires_in,
            }
        )


class ApiIndexView(APIView):
    """What to try from a terminal (what ``/`` answered before it became the demo page)."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    schema = None  # a help text, not part of the API: left out of the OpenAPI schema

    def get(self, request: Request) -> Response:
        return Response(
            {
                "demo_user": {"username": demo_user.USERNAME, "password": demo_user.PASSWORD},
                "page": "/",
                "try": [
                    "POST /auth/token/ grant_type=password&username=demo&password=demo-password",
                    "GET /api/me/ with Authorization: Bearer <access_token>",
                    "POST /auth/token/ grant_type=refresh_token&refresh_token=<refresh_token>",
                    'POST /auth/refresh/ {"refresh_token": "<refresh_token>"}',
                    'POST /auth/logout/ {"refresh_token": "<refresh_token>"}',
                ],
                "cookie_mode": (
                    "login/ and the cookie's refresh/ and logout/ want a JSON POST with "
                    "X-Requested-With: XMLHttpRequest and an Origin of this site; the "
                    "refresh token then travels only in an HttpOnly cookie"
                ),
            }
        )
