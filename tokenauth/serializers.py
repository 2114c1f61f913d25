"""Request bodies in, response bodies out; DRF fields refuse NUL and lone surrogates."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from tokenauth.service import ActiveSession, IssuedTokens

__all__ = [
    "LoginSerializer",
    "RefreshTokenSerializer",
    "RevokeSerializer",
    "SessionSerializer",
    "TokenRequestSerializer",
    "oauth_password_credentials",
    "token_response_body",
]


class _StringField(serializers.CharField):
    """A ``CharField`` that takes strings only: DRF's turns ``123`` into ``"123"``, so a number
    sent as a token was a silent 204 at logout/ and a silent 200 at revoke/."""

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("required", True):
            # Blank is refused before any validator runs: this lets the OpenAPI schema say so.
            # (An optional field left empty in a form is omitted, as RFC 6749 §3.1 says.)
            kwargs.setdefault("min_length", 1)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class LoginSerializer(serializers.Serializer[Any]):
    password = _StringField(trim_whitespace=False, max_length=1024)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The user model's USERNAME_FIELD ("username", "email", ...), as Django's login form.
        self.fields[get_user_model().USERNAME_FIELD] = _StringField(max_length=254)

    def credentials(self) -> dict[str, str]:
        return dict(self.validated_data)

    def username(self) -> str:
        return str(self.validated_data[get_user_model().USERNAME_FIELD])


def oauth_password_credentials(data: Any) -> dict[str, Any]:
    """RFC 6749 §4.3.2 names the field ``username``; map it onto the user model's field."""
    field = get_user_model().USERNAME_FIELD
    return {field: data.get("username", data.get(field)), "password": data.get("password")}


class RefreshTokenSerializer(serializers.Serializer[Any]):
    refresh_token = _StringField(required=False, trim_whitespace=False, max_length=1024)


class TokenRequestSerializer(serializers.Serializer[Any]):
    """RFC 6749 §4.3 and §6; ``client_id`` and other parameters are ignored (public clients)."""

    grant_type = _StringField(max_length=64)


class RevokeSerializer(serializers.Serializer[Any]):
    """RFC 7009 §2.1."""

    token = _StringField(trim_whitespace=False, max_length=8192)
    token_type_hint = _StringField(required=False, max_length=64)


def token_response_body(
    tokens: IssuedTokens, *, include_refresh_token: bool = True
) -> dict[str, Any]:
    """RFC 6749 §5.1, after the project's TOKEN_RESPONSE_FIELDS (which never name ours)."""
    body: dict[str, Any] = {
        **tokens.response_fields,
        "access_token": tokens.access_token,
        "token_type": tokens.token_type,
        "expires_in": tokens.access_token_expires_in,
    }
    if include_refresh_token:
        body["refresh_token"] = tokens.refresh_token
    body["refresh_token_expires_in"] = tokens.refresh_token_expires_in
    return body


class SessionSerializer(serializers.Serializer[Any]):
    """One live family for ``sessions/``; ``current`` marks the caller's own."""

    id = serializers.CharField(source="public_id")
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    user_agent = serializers.CharField()
    ip_address = serializers.CharField(allow_null=True)
    current = serializers.SerializerMethodField()

    def get_current(self, session: ActiveSession) -> bool:
        return session.public_id == self.context.get("current_family_public_id")
