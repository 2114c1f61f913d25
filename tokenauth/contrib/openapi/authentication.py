"""The OpenAPI security schemes of ``AccessTokenAuthentication``: ``Authorization: Bearer <jwt>``
and, unless ``DPOP`` is "off", ``Authorization: DPoP <jwt>`` with its proof (DESIGN §10)."""

# mypy: disallow-untyped-calls=False
# (drf-spectacular's extension base classes have an untyped __init_subclass__ and __init__.)

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from tokenauth.authentication import AccessTokenAuthentication
from tokenauth.settings import get_settings

if TYPE_CHECKING:
    from drf_spectacular.openapi import AutoSchema

__all__ = ["AccessTokenScheme"]

BEARER = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": (
        "An access token from `login/`, `refresh/` or `token/` (a JWT, RFC 9068), sent as "
        "`Authorization: Bearer <access_token>` (RFC 6750). A refused token gets 401 with "
        '`WWW-Authenticate: Bearer realm="api", error="invalid_token"`.'
    ),
}


DPOP = {
    "type": "http",
    "scheme": "DPoP",
    "description": (
        "A DPoP-bound access token (`token_type` `DPoP`: the token request carried a `DPoP` "
        "proof), sent as `Authorization: DPoP <access_token>` with a `DPoP` header: a proof "
        "by the same key whose `ath` is the token's SHA-256 (RFC 9449 §7). A refusal gets 401 "
        'with `WWW-Authenticate: DPoP algs="...", error="invalid_token"` or '
        '`error="invalid_dpop_proof"`.'
    ),
}


def security_schemes() -> dict[str, dict[str, str]]:
    """The schemes a view with ``AccessTokenAuthentication`` takes, by component name; a
    client uses any one of them. ``DPoP`` unless ``DPOP`` is "off" (DESIGN §10)."""
    if get_settings().dpop == "off":
        return {"Bearer": BEARER}
    return {"Bearer": BEARER, "DPoP": DPOP}


class AccessTokenScheme(OpenApiAuthenticationExtension):
    """Documents every view that authenticates with ``AccessTokenAuthentication`` (or a
    subclass): its security requirement, and the scheme under ``components``."""

    target_class = AccessTokenAuthentication
    match_subclasses = True

    def __init__(self, target: Any) -> None:
        super().__init__(target)
        # Read when the schema is generated, not at import: the schemes follow the settings.
        self._schemes = security_schemes()
        self.name = list(self._schemes)

    def get_security_requirement(self, auto_schema: AutoSchema) -> list[dict[str, list[Any]]]:
        return [{name: []} for name in self._schemes]  # one of them (OR), never all (AND)

    def get_security_definition(self, auto_schema: AutoSchema) -> list[dict[str, Any]]:
        return list(self._schemes.values())
