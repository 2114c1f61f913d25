"""``POST simplejwt/exchange/``: a simplejwt refresh token in, tokenauth's token response out."""

from __future__ import annotations

from typing import Any

from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from tokenauth import _dpop_requests, cookies
from tokenauth.contrib.simplejwt.exchange import exchange_refresh_token
from tokenauth.views import TokenEndpoint, client_ip, token_response, user_agent

__all__ = ["SimpleJWTExchangeView"]


class SimpleJWTRefreshSerializer(serializers.Serializer[Any]):
    """simplejwt's own body: ``{"refresh": "<simplejwt refresh token>"}``."""

    refresh = serializers.CharField(trim_whitespace=False, max_length=8192)


@method_decorator(sensitive_post_parameters("refresh"), name="dispatch")
class SimpleJWTExchangeView(TokenEndpoint):
    """Like login: not throttled (a signed token is no password guess), CSRF-guarded in cookie
    mode, whose cookie it sets, and bound to the key of a DPoP proof that comes with it."""

    def post(self, request: Request) -> Response:
        if cookies.enabled():
            cookies.require_csrf_proof(request)  # login CSRF: the response sets the session
        refresh = self.validated(SimpleJWTRefreshSerializer, request).validated_data["refresh"]
        dpop_jkt = _dpop_requests.token_request_jkt(request)  # before the token is spent
        tokens = exchange_refresh_token(
            refresh_token=refresh,
            ip=client_ip(request),
            user_agent=user_agent(request),
            dpop_jkt=dpop_jkt,
        )
        return token_response(tokens, cookie_mode=cookies.enabled())
