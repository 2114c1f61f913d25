"""Read-only admin for refresh-token families, with a revoke action. Never shows a secret."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest

from tokenauth import service
from tokenauth.models import RefreshTokenFamily, RevocationReason

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[RefreshTokenFamily]
else:
    _ModelAdmin = admin.ModelAdmin  # not subscriptable at run time

# Never filterable, even via a relation (``user__token_families__secret``): a changelist
# filter answers "how many rows match", so ``secret__startswith=`` recovers a secret one
# character at a time, and the secret with SECRET_KEY rebuilds the live refresh token. The
# fingerprint and binding are MACs of the password hash and the client; ``password`` is the
# user's hash (``user__password__startswith``; Django's default rule refuses that one too).
_UNFILTERABLE = frozenset({"secret", "password_fingerprint", "rotation_binding", "password"})


@admin.register(RefreshTokenFamily)
class RefreshTokenFamilyAdmin(_ModelAdmin):
    list_display = [
        "public_id",
        "user",
        "created_at",
        "last_used_at",
        "idle_expires_at",
        "absolute_expires_at",
        "revoked_at",
        "revocation_reason",
        "ip_address",
    ]
    list_filter = ["revocation_reason", "revoked_at", "created_at"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    # ``secret`` is deliberately absent: with SECRET_KEY it would mint tokens.
    readonly_fields = [
        "public_id",
        "user",
        "generation",
        "created_at",
        "last_used_at",
        "rotated_at",
        "idle_expires_at",
        "absolute_expires_at",
        "user_agent",
        "ip_address",
        "revoked_at",
        "revocation_reason",
        "reuse_detected_at",
        "reuse_ip_address",
        "reuse_user_agent",
    ]
    fields = tuple(readonly_fields)
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # read-only; deleting stays allowed so deleting a user is never blocked

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        """Revoking is its own permission: viewing sessions must not let staff end them."""
        return request.user.has_perm("tokenauth.revoke_refreshtokenfamily")

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        """Refuse (400) any filter through a secret field, whatever the transform."""
        if _UNFILTERABLE.intersection(lookup.split(LOOKUP_SEP)):
            return False
        # Django 5.2 still lets callers leave ``request`` out; 6.x always passes it.
        return super().lookup_allowed(lookup, value, request)  # type: ignore[arg-type]

    def get_actions(self, request: HttpRequest, action_location: Any = None) -> dict[str, Any]:
        """No bulk delete: it would skip the revocation signals and cache markers.

        Deleting stays permitted, so deleting a user still cascades to their families.
        (Django 6.1 passes ``action_location`` and warns unless the signature names it.)
        """
        if action_location is None:
            actions = super().get_actions(request)
        else:
            actions = super().get_actions(request, action_location)  # type: ignore[call-arg]  # Django 6.1+
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request: HttpRequest, obj: RefreshTokenFamily) -> None:
        """The one-family delete page revokes first, so signals and cache markers still fire."""
        service.revoke_families(family_public_ids=[obj.public_id], reason=RevocationReason.ADMIN)
        super().delete_model(request, obj)

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return ["public_id", f"user__{get_user_model().USERNAME_FIELD}"]

    @admin.action(description="Revoke selected families", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[RefreshTokenFamily]) -> None:
        count = service.revoke_families(
            family_public_ids=queryset.values_list("public_id", flat=True),
            reason=RevocationReason.ADMIN,
        )
        self.message_user(request, f"Revoked {count} families.", messages.SUCCESS)
