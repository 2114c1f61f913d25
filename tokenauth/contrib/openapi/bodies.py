"""The bodies of tokenauth's endpoints as OpenAPI components, each named ``Tokenauth...`` so that
none collides with a project's own.

The real serializers document themselves where they say all an endpoint takes (login, revoke,
sessions); the classes here describe what the views add (a refresh token that is required
outside cookie mode, the two grants of ``token/``) and what no serializer renders. Request
bodies carry no ``Request`` suffix: drf-spectacular adds one under ``COMPONENT_SPLIT_REQUEST``.
"""

# mypy: disallow-untyped-calls=False
# (drf-spectacular's extension base classes have an untyped __init_subclass__ and __init__.)

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from tokenauth.serializers import LoginSerializer, RevokeSerializer, SessionSerializer

if TYPE_CHECKING:
    from drf_spectacular.openapi import AutoSchema
    from drf_spectacular.utils import Direction

_REFRESH_TOKEN = "The refresh token from the last token response."


class TokenauthRefresh(serializers.Serializer[Any]):
    refresh_token = serializers.CharField(min_length=1, max_length=1024, help_text=_REFRESH_TOKEN)


class TokenauthCookieRefresh(serializers.Serializer[Any]):
    refresh_token = serializers.CharField(
        required=False,
        min_length=1,
        max_length=1024,
        help_text=f"{_REFRESH_TOKEN} Leave it out to use the refresh cookie instead.",
    )


class TokenauthPasswordGrant(serializers.Serializer[Any]):
    """RFC 6749 §4.3.2."""

    grant_type = serializers.ChoiceField(choices=["password"])
    username = serializers.CharField(min_length=1, max_length=254)
    password = serializers.CharField(min_length=1, max_length=1024, trim_whitespace=False)


class TokenauthRefreshTokenGrant(serializers.Serializer[Any]):
    """RFC 6749 §6."""

    grant_type = serializers.ChoiceField(choices=["refresh_token"])
    refresh_token = serializers.CharField(min_length=1, max_length=1024, help_text=_REFRESH_TOKEN)


# RFC 6749: one body, two grants told apart by grant_type (client_id is ignored).
TOKEN_REQUEST = PolymorphicProxySerializer(
    component_name="TokenauthGrant",
    serializers={
        "password": TokenauthPasswordGrant,
        "refresh_token": TokenauthRefreshTokenGrant,
    },
    resource_type_field_name="grant_type",
)


class TokenauthSimpleJWTExchange(serializers.Serializer[Any]):
    """simplejwt's own refresh body."""

    refresh = serializers.CharField(
        min_length=1, max_length=8192, help_text="A refresh token that simplejwt issued."
    )


class TokenauthTokenResponse(serializers.Serializer[Any]):
    """RFC 6749 §5.1."""

    access_token = serializers.CharField(
        help_text=(
            "A JWT (RFC 9068) for `Authorization: Bearer` (`DPoP` when bound); keep it in memory."
        )
    )
    token_type = serializers.CharField(
        help_text="`Bearer`, or `DPoP` when the request carried a DPoP proof (RFC 9449)."
    )
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")
    refresh_token = serializers.CharField(
        help_text="Buys the next token response once, at `refresh/` or `token/`."
    )
    refresh_token_expires_in = serializers.IntegerField(
        help_text="Seconds until the session ends unless it is refreshed (the idle expiry, "
        "capped by the absolute one)."
    )


class TokenauthCookieTokenResponse(TokenauthTokenResponse):
    """Cookie mode: the refresh token comes back the way it came."""

    refresh_token = serializers.CharField(
        required=False,
        help_text="Only when the request sent its refresh token in the body; otherwise the "
        "new one is set as the HttpOnly refresh cookie.",
    )


class TokenauthError(serializers.Serializer[Any]):
    """RFC 6749 §5.2 and RFC 7009 §2.2.1."""

    error = serializers.CharField(help_text="The error code; the response says which it can be.")
    error_description = serializers.CharField(help_text="What went wrong, for the developer.")


class TokenauthDetail(serializers.Serializer[Any]):
    """Django REST framework's error body."""

    detail = serializers.CharField()


class TokenauthJWK(serializers.Serializer[Any]):
    """An RFC 7517 public key: RSA (`n`, `e`), EC (`crv`, `x`, `y`) or OKP (`crv`, `x`)."""

    kty = serializers.CharField(help_text="`RSA`, `EC` or `OKP`.")
    kid = serializers.CharField(help_text="The `kid` header of the tokens this key verifies.")
    alg = serializers.CharField()
    use = serializers.CharField(help_text="`sig`.")
    n = serializers.CharField(required=False)
    e = serializers.CharField(required=False)
    crv = serializers.CharField(required=False)
    x = serializers.CharField(required=False)
    y = serializers.CharField(required=False)


class TokenauthJWKS(serializers.Serializer[Any]):
    """RFC 7517 §5: the keys that verify access tokens; none for HS* (secrets stay secret)."""

    keys = TokenauthJWK(many=True)


class _Named(OpenApiSerializerExtension):
    """A tokenauth serializer under a component name of its own, described for API users (its
    docstring is for tokenauth's developers)."""

    component_name: str
    description: str

    def get_name(self, auto_schema: AutoSchema, direction: Direction) -> str | None:
        return self.component_name

    def map_serializer(self, auto_schema: AutoSchema, direction: Direction) -> dict[str, Any]:
        return {**super().map_serializer(auto_schema, direction), "description": self.description}


class _LoginRequest(_Named):
    target_class = LoginSerializer
    component_name = "TokenauthLogin"
    description = "The user's credentials; the username field is the user model's."


class _RevokeRequest(_Named):
    target_class = RevokeSerializer
    component_name = "TokenauthRevoke"
    description = (
        "RFC 7009 §2.1: a refresh token, or an access token; `token_type_hint` "
        "(`refresh_token`, `access_token`) may be left out."
    )


class _Session(_Named):
    target_class = SessionSerializer
    component_name = "TokenauthSession"
    description = (
        "A session: one login, with every refresh since. `current` marks the session of the "
        "access token that asked."
    )
