"""One trivial DRF view per authentication class, and every library's token endpoints."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.core.cache import caches
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

from tokenauth._dpop_replay import _add
from tokenauth.authentication import AccessTokenAuthentication
from tokenauth.settings import get_settings


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
    """Bearer authentication plus what any DPoP check must add: one bare ``cryptography``
    verify of the request's proof and one cache ``add`` (of a random key, in the cache of
    ``CACHE_ALIAS``, as cheap as tokenauth's own). ``benchmarks.dpop`` sets ``verify``."""

    verify: Callable[[str], None] = staticmethod(lambda proof: None)

    def authenticate(self, request: Request) -> Any:
        found = super().authenticate(request)
        type(self).verify(request.META["HTTP_DPOP"])
        cache = caches[get_settings().cache_alias]
        if not _add(cache, f"benchmark:{uuid.uuid4().hex}", 60):
            raise AssertionError("a random key was in the cache already")
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
