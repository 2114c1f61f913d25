"""One trivial DRF view per authentication class, and every library's token endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.urls import include, path
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.views import LoginView as KnoxLoginView
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.views import TokenView as OAuthToolkitTokenView
from rest_framework.authentication import BasicAuthentication, SessionAuthentication
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import (
    JWTAuthentication,
    JWTStatelessUserAuthentication,
)
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from tokenauth.authentication import AccessTokenAuthentication


class Me(APIView):
    """What most API views start with: who is calling."""

    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response({"id": request.user.pk})


class MeByName(Me):
    """A view that touches more than ``pk``: lazy users (tokenauth cache/none) load here."""

    def get(self, request: Request) -> Response:
        return Response({"id": request.user.pk, "username": request.user.get_username()})


class Floor(APIView):
    """The same view with no authentication at all: the cost every contender pays anyway."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"id": None})


class BearerAndBareVerify(AccessTokenAuthentication):
    """Bearer authentication plus one bare ``cryptography`` verify of the request's DPoP proof:
    the least a DPoP check can add to a bearer request (``benchmarks.dpop`` sets ``verify``)."""

    verify: Callable[[str], None] = staticmethod(lambda proof: None)

    def authenticate(self, request: Request) -> Any:
        found = super().authenticate(request)
        type(self).verify(request.META["HTTP_DPOP"])
        return found


def me_with(authentication_class: type) -> Any:
    return Me.as_view(authentication_classes=[authentication_class])


urlpatterns = [
    path("api/floor/", Floor.as_view()),
    path("api/tokenauth/", me_with(AccessTokenAuthentication)),
    path("api/tokenauth-verify/", me_with(BearerAndBareVerify)),
    path(
        "api/tokenauth-username/",
        MeByName.as_view(authentication_classes=[AccessTokenAuthentication]),
    ),
    path("api/simplejwt/", me_with(JWTAuthentication)),
    path("api/simplejwt-stateless/", me_with(JWTStatelessUserAuthentication)),
    path("api/knox/", me_with(KnoxTokenAuthentication)),
    path("api/session/", me_with(SessionAuthentication)),
    path("api/oauth-toolkit/", me_with(OAuth2Authentication)),
    path("auth/", include("tokenauth.urls")),
    path("simplejwt/token/", TokenObtainPairView.as_view()),
    path("simplejwt/refresh/", TokenRefreshView.as_view()),
    path("knox/login/", KnoxLoginView.as_view(authentication_classes=[BasicAuthentication])),
    path("o/token/", OAuthToolkitTokenView.as_view()),
]
