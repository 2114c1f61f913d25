"""Read-only admin for refresh-token families, with a revoke action. Never shows a secret."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest

from tokenauth import service
from tokenauth.models import RefreshTokenFamily, RevocationReason

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[RefreshTokenFamily]
else:
    _ModelAdmin = admin.ModelAdmin  # not subscriptable at run time


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

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return ["public_id", f"user__{get_user_model().USERNAME_FIELD}"]

    @admin.action(description="Revoke selected families", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[RefreshTokenFamily]) -> None:
        count = service.revoke_families(
            family_public_ids=queryset.values_list("public_id", flat=True),
            reason=RevocationReason.ADMIN,
        )
        self.message_user(request, f"Revoked {count} families.", messages.SUCCESS)
