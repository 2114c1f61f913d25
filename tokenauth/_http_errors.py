"""Map exceptions to RFC 6749 §5.2 / RFC 7009 error responses (never a bare 500)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent
from django.db import InterfaceError, OperationalError
from rest_framework import exceptions, status
from rest_framework.response import Response

from tokenauth import _revocation_cache, _throttling, cookies, service
from tokenauth.authentication import ServiceUnavailable
from tokenauth.dpop import DPoPProofError

MAX_BODY_BYTES = 16 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = f"The request body is larger than {MAX_BODY_BYTES} bytes."


class UnsupportedGrantType(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Supported grant types: password, refresh_token."


class LoginThrottled(exceptions.Throttled):
    default_detail = "Too many login attempts."


# Exception class → (HTTP status, RFC 6749 §5.2 / RFC 7009 error code). First match wins.
_ERRORS: dict[type[BaseException], tuple[int, str]] = {
    service.InvalidRefreshToken: (400, "invalid_grant"),
    service.InvalidCredentials: (400, "invalid_grant"),
    # RFC 9449 §5: its error (invalid_dpop_proof or use_dpop_nonce) is the exception's own.
    DPoPProofError: (400, "invalid_dpop_proof"),
    service.DPoPKeyMismatch: (400, "invalid_dpop_proof"),
    UnsupportedGrantType: (400, "unsupported_grant_type"),
    PayloadTooLarge: (413, "invalid_request"),
    exceptions.ParseError: (400, "invalid_request"),
    exceptions.ValidationError: (400, "invalid_request"),
    exceptions.UnsupportedMediaType: (415, "invalid_request"),
    exceptions.MethodNotAllowed: (405, "invalid_request"),
    exceptions.Throttled: (429, "too_many_requests"),
    cookies.CsrfRefused: (403, "invalid_request"),
    # A login refused by policy: a lockout app's receiver (django-axes' DRF recipe), say.
    exceptions.PermissionDenied: (403, "access_denied"),
    service.TemporarilyUnavailable: (503, "temporarily_unavailable"),
    _throttling.ThrottleUnavailable: (503, "temporarily_unavailable"),
    _revocation_cache.CacheUnavailable: (503, "temporarily_unavailable"),
    ServiceUnavailable: (503, "temporarily_unavailable"),  # the same, met by authentication
    OperationalError: (503, "temporarily_unavailable"),  # database locked or lost
    InterfaceError: (503, "temporarily_unavailable"),
}
_DESCRIPTIONS = {
    "invalid_dpop_proof": "A valid DPoP proof by the session's own key is required.",
    "invalid_grant": "The credentials or the refresh token are invalid, expired or revoked.",
    "temporarily_unavailable": "The service is temporarily unavailable; retry later.",
}


def error_response(exc: BaseException) -> Response | None:
    match = next((code for cls, code in _ERRORS.items() if isinstance(exc, cls)), None)
    if match is None:
        return None
    status_code, error = match
    description = _DESCRIPTIONS.get(error) or _describe(exc)
    headers = dict(NO_STORE)
    if isinstance(exc, DPoPProofError):
        error, description = exc.error, exc.description
        if exc.nonce:
            headers["DPoP-Nonce"] = exc.nonce
    if status_code == 503:
        headers["Retry-After"] = "5"
    wait = getattr(exc, "wait", None)  # Throttled's; missing from the stubs
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        headers["Retry-After"] = str(int(wait))
    return Response(
        {"error": error, "error_description": description}, status=status_code, headers=headers
    )


def _describe(exc: BaseException) -> str:
    """Flatten DRF's ``detail`` (a string, a list, or serializer errors by field)."""
    detail = getattr(exc, "detail", None)
    if isinstance(detail, dict):
        return "; ".join(f"{field}: {_describe_detail(msgs)}" for field, msgs in detail.items())
    return _describe_detail(detail) if detail is not None else "Malformed request."


def _describe_detail(detail: object) -> str:
    if isinstance(detail, (list, tuple)):
        return " ".join(_describe_detail(item) for item in detail)
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_describe_detail(value)}" for key, value in detail.items())
    return str(detail)


def as_api_exception(exc: Exception) -> Exception:
    """Django's own refusals of a body, as the DRF exceptions the table maps."""
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, TooManyFieldsSent):  # Django's DATA_UPLOAD_MAX_NUMBER_FIELDS
        return exceptions.ParseError("Too many form fields.")
    if isinstance(exc, PermissionDenied):  # as DRF's own handler does, keeping the message
        return exceptions.PermissionDenied(str(exc) or None)
    return exc
