"""HTTP endpoints: parse the body, call one service function, shape an RFC 6749 response."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from tokenauth import _dpop_requests, _http_errors, cookies, service
from tokenauth._client_info import clean_ip
from tokenauth._http_errors import (
    MAX_BODY_BYTES,
    NO_STORE,
    LoginThrottled,
    PayloadTooLarge,
    UnsupportedGrantType,
)
from tokenauth._parsers import AlwaysJSON, FormParser, JSONParser
from tokenauth.authentication import AccessTokenAuthentication
from tokenauth.models import RevocationReason
from tokenauth.serializers import (
    LoginSerializer,
    RefreshTokenSerializer,
    RevokeSerializer,
    SessionSerializer,
    TokenRequestSerializer,
    oauth_password_credentials,
    token_response_body,
)

__all__ = [
    "JWKSView",
    "LoginView",
    "LogoutAllView",
    "LogoutView",
    "RefreshView",
    "RevokeView",
    "SessionDetailView",
    "SessionListView",
    "TokenAuthAPIView",
    "TokenEndpoint",
    "TokenView",
    "client_ip",
    "token_response",
    "user_agent",
]


def client_ip(request: Request) -> str | None:
    """``REMOTE_ADDR``; DRF's ``NUM_PROXIES`` rule over ``X-Forwarded-For`` only when it is set.
    None for anything that is not an IP address; ``::ffff:a.b.c.d`` is ``a.b.c.d``.

    (DRF's own ``get_ident`` trusts ``X-Forwarded-For`` when ``NUM_PROXIES`` is None: a client
    could then pick its IP and dodge the login throttle.)
    """
    if api_settings.NUM_PROXIES is None:
        return clean_ip(request.META.get("REMOTE_ADDR"))
    return clean_ip(BaseThrottle().get_ident(request))


def user_agent(request: Request) -> str:
    return str(request.META.get("HTTP_USER_AGENT", ""))


def _locked_out(request: Request) -> bool:
    """Whether a lockout app refused the attempt: django-axes flags the request it was given
    (``axes_locked_out``, its documented flag), since ``authenticate()`` swallows the
    ``PermissionDenied`` of its backend and returns None."""
    return getattr(request, "axes_locked_out", False) is True


# A lockout with no cool-off lasts until an admin lifts it; clients still need a Retry-After.
_LOCKOUT_RETRY_AFTER = 3600


def _lockout_retry_after(request: Request) -> int:
    """Seconds until django-axes lets the client try again (its cool-off)."""
    try:
        from axes.helpers import get_cool_off  # the app that set the flag: installed
    except ImportError:
        return _LOCKOUT_RETRY_AFTER
    cool_off = get_cool_off(request._request)
    return max(1, int(cool_off.total_seconds())) if cool_off else _LOCKOUT_RETRY_AFTER


class TokenAuthAPIView(APIView):
    """The base of every tokenauth view: JSON only, no session auth, RFC-shaped errors."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []
    parser_classes: list[Any] = [JSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AlwaysJSON

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Refuse big bodies before anything reads them (DESIGN §3).
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        super().initial(request, *args, **kwargs)

    def handle_exception(self, exc: Exception) -> Response:
        exc = _http_errors.as_api_exception(exc)
        return _http_errors.error_response(exc) or super().handle_exception(exc)

    def validated(self, serializer_class: type[Any], request: Request) -> Any:
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer

    def refresh_token_of(self, request: Request) -> tuple[str | None, bool]:
        """The body's refresh token, else (cookie mode) the cookie's once the CSRF rule passes;
        and whether it came from the cookie."""
        from_cookie = cookies.refresh_token_from_cookie(request) if cookies.enabled() else None
        if from_cookie is not None:
            cookies.require_json(request)  # a form post riding on the cookie: 403, not 415
        from_body = self.validated(RefreshTokenSerializer, request).validated_data.get(
            "refresh_token"
        )
        if from_body:
            return str(from_body), False  # a cross-site page cannot know it: no CSRF proof
        cookies.require_one_refresh_cookie(request)  # the cookie would be used: no tossing
        if from_cookie is not None:
            cookies.require_csrf_proof(request)
        return from_cookie, from_cookie is not None


class TokenEndpoint(TokenAuthAPIView):
    """An endpoint that issues tokens: the password and refresh grants, DPoP-bound when the
    request carries a valid proof (DESIGN §8)."""

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        for name, value in _dpop_requests.nonce_header().items():
            response[name] = value  # every answer, so a client learns the nonce at once
        return super().finalize_response(request, response, *args, **kwargs)

    def password_grant(self, request: Request, serializer: LoginSerializer) -> service.IssuedTokens:
        # The proof first: an invalid one costs no throttle slot and no password hash.
        dpop_jkt = _dpop_requests.token_request_jkt(request)
        credentials = serializer.credentials()
        try:
            return service.login_with_password(
                username=serializer.username(),
                # Django's authenticate: other backends, lockout apps and user_login_failed
                # all apply, and an unknown user still costs a password hash (no timing oracle).
                authenticate=lambda: authenticate(request, **credentials),
                ip=client_ip(request),
                user_agent=user_agent(request),
                # Receivers of user_logged_in (django-axes, ...) expect Django's request.
                request=request._request,
                dpop_jkt=dpop_jkt,
            )
        except service.LoginThrottled as exc:
            raise LoginThrottled(wait=exc.retry_after) from exc
        except service.InvalidCredentials:
            if _locked_out(request):
                # 429 like our own throttle (and axes' own default), with its cool-off.
                raise LoginThrottled(wait=_lockout_retry_after(request)) from None
            raise

    def refresh_grant(self, request: Request, refresh_token: str | None) -> service.IssuedTokens:
        if not refresh_token:
            raise exceptions.ValidationError({"refresh_token": ["This field is required."]})
        dpop_jkt = _dpop_requests.token_request_jkt(request)
        return service.refresh(
            refresh_token=refresh_token,
            ip=client_ip(request),
            user_agent=user_agent(request),
            dpop_jkt=dpop_jkt,
        )


def token_response(tokens: service.IssuedTokens, *, cookie_mode: bool) -> Response:
    """RFC 6749 §5.1; with ``cookie_mode`` the refresh token travels only in the cookie."""
    body = token_response_body(tokens, include_refresh_token=not cookie_mode)
    response = Response(body, headers=NO_STORE)
    if cookie_mode:
        cookies.set_refresh_cookie(response, tokens.refresh_token, tokens.refresh_token_expires_in)
    return response


_sensitive = method_decorator(
    sensitive_post_parameters("password", "refresh_token", "token"), name="dispatch"
)


@_sensitive
class LoginView(TokenEndpoint):
    def post(self, request: Request) -> Response:
        if cookies.enabled():
            cookies.require_csrf_proof(request)  # login CSRF (OWASP)
        tokens = self.password_grant(request, self.validated(LoginSerializer, request))
        return token_response(tokens, cookie_mode=cookies.enabled())


@_sensitive
class RefreshView(TokenEndpoint):
    def post(self, request: Request) -> Response:
        refresh_token, from_cookie = self.refresh_token_of(request)
        if not refresh_token and cookies.enabled():
            raise cookies.missing_refresh_token()  # not "refresh_token: required"
        tokens = self.refresh_grant(request, refresh_token)
        # The successor goes back the way the token came: a client that sent it in the body
        # (a native app in a cookie-mode deployment) must get the next one in the body.
        return token_response(tokens, cookie_mode=from_cookie)


@_sensitive
class TokenView(TokenEndpoint):
    """RFC 6749 token endpoint for OAuth client libraries (form or JSON); no cookies."""

    parser_classes = [FormParser, JSONParser]

    def post(self, request: Request) -> Response:
        grant_type = self.validated(TokenRequestSerializer, request).validated_data["grant_type"]
        if grant_type == "password":
            credentials = LoginSerializer(data=oauth_password_credentials(request.data))
            credentials.is_valid(raise_exception=True)
            tokens = self.password_grant(request, credentials)
        elif grant_type == "refresh_token":
            serializer = self.validated(RefreshTokenSerializer, request)
            tokens = self.refresh_grant(request, serializer.validated_data.get("refresh_token"))
        else:
            raise UnsupportedGrantType()
        return token_response(tokens, cookie_mode=False)


@_sensitive
class LogoutView(TokenAuthAPIView):
    def post(self, request: Request) -> Response:
        refresh_token, from_cookie = self.refresh_token_of(request)
        response = Response(status=status.HTTP_204_NO_CONTENT, headers=NO_STORE)
        if not refresh_token:
            if not cookies.enabled():
                raise exceptions.ValidationError({"refresh_token": ["This field is required."]})
            return response  # nothing to log out, and no cookie to clear for a stranger
        # 204 whether or not the token is genuine: logout is no oracle.
        service.logout(
            refresh_token=refresh_token, ip=client_ip(request), user_agent=user_agent(request)
        )
        if from_cookie:  # a body token's logout leaves the cookie's own session alone
            cookies.clear_refresh_cookie(response)
        return response


@_sensitive
class RevokeView(TokenAuthAPIView):
    """RFC 7009: 200 for any token, genuine or not (§2.2). Ignores cookie mode."""

    parser_classes = [FormParser, JSONParser]

    def post(self, request: Request) -> Response:
        token = self.validated(RevokeSerializer, request).validated_data["token"]
        service.revoke_token(token=token, ip=client_ip(request), user_agent=user_agent(request))
        return Response(status=status.HTTP_200_OK, headers=NO_STORE)


class LogoutAllView(TokenAuthAPIView):
    authentication_classes = [AccessTokenAuthentication]
    permission_classes = [IsAuthenticated]

    def post(self, request: Request) -> Response:
        service.revoke_user(user=request.user, reason=RevocationReason.LOGOUT_ALL)  # type: ignore[arg-type]  # authenticated
        return Response(status=status.HTTP_204_NO_CONTENT, headers=NO_STORE)


class SessionListView(TokenAuthAPIView):
    authentication_classes = [AccessTokenAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        families = service.live_families(user=request.user)  # type: ignore[arg-type]  # authenticated
        context = {"current_family_public_id": request.auth.family_public_id}  # type: ignore[union-attr]  # AccessClaims
        return Response(
            SessionSerializer(families, many=True, context=context).data, headers=NO_STORE
        )


class SessionDetailView(TokenAuthAPIView):
    authentication_classes = [AccessTokenAuthentication]
    permission_classes = [IsAuthenticated]

    def delete(self, request: Request, family_public_id: str) -> Response:
        revoked = service.revoke_family(
            family_public_id=family_public_id,
            user_pk=request.user.pk,
            reason=RevocationReason.LOGOUT,
        )
        if not revoked:  # another user's, unknown or already revoked: all alike
            raise exceptions.NotFound()
        return Response(status=status.HTTP_204_NO_CONTENT, headers=NO_STORE)


class JWKSView(TokenAuthAPIView):
    def get(self, request: Request) -> Response:
        return Response(service.public_key_set(), headers={"Cache-Control": "public, max-age=300"})
