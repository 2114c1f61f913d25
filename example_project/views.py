from __future__ import annotations

from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class MeView(APIView):
    """A protected resource: who the access token belongs to."""

    def get(self, request: Request) -> Response:
        return Response({"id": request.user.pk, "username": request.user.get_username()})


class IndexView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    def get(self, request: Request) -> Response:
        return Response(
            {
                "demo_user": {"username": "demo", "password": "demo-password"},
                "try": [
                    'POST /auth/login/ {"username": "demo", "password": "demo-password"}',
                    "GET /api/me/ with Authorization: Bearer <access_token>",
                    'POST /auth/refresh/ {"refresh_token": "..."}',
                    'POST /auth/logout/ {"refresh_token": "..."}',
                ],
            }
        )
