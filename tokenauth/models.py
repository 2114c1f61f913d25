"""``RefreshTokenFamily``: one login, one row, however often it is refreshed."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils.translation import gettext_lazy as _

__all__ = ["RefreshTokenFamily", "RevocationReason"]


class RevocationReason(models.TextChoices):
    LOGOUT = "logout", _("Logout")
    LOGOUT_ALL = "logout_all", _("Logout everywhere")
    REUSE_DETECTED = "reuse_detected", _("Reuse detected")
    PASSWORD_CHANGED = "password_changed", _("Password changed")
    DEACTIVATED = "deactivated", _("User deactivated")
    ADMIN = "admin", _("Admin")
    COMMAND = "command", _("Management command")


class PublicIdField(models.CharField):  # type: ignore[type-arg]  # generic only in the stubs
    """Text compared byte for byte on every backend.

    PostgreSQL and SQLite do so already; MySQL's and MariaDB's default collations ignore case
    (a case-swapped id would find the family), so the column gets a binary one there.
    """

    def db_parameters(self, connection: BaseDatabaseWrapper) -> dict[str, Any]:
        parameters = super().db_parameters(connection)
        if connection.vendor == "mysql" and self.db_collation is None:
            parameters["collation"] = "utf8mb4_bin"
        return parameters


class RefreshTokenFamilyQuerySet(models.QuerySet["RefreshTokenFamily"]):
    def live(self) -> RefreshTokenFamilyQuerySet:
        """The families not revoked (expired ones included: expiry is a state, not a revocation)."""
        return self.filter(revoked_at__isnull=True)

    def locked(self) -> RefreshTokenFamilyQuerySet:
        """``SELECT ... FOR UPDATE`` where the queryset's database has it (not SQLite)."""
        if connections[self.db].features.has_select_for_update:
            return self.select_for_update()
        return self


class RefreshTokenFamily(models.Model):
    """A chain of refresh tokens from one login.

    The row holds the current ``generation`` and a random ``secret``; a token is a MAC over
    both under a key derived from ``SECRET_KEY``, so no token can be read back from here.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="token_families"
    )
    public_id = PublicIdField(max_length=32, unique=True, editable=False)  # the ``sid`` claim
    secret = models.CharField(max_length=64, editable=False)
    generation = models.PositiveBigIntegerField(default=0, editable=False)

    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField()
    rotated_at = models.DateTimeField(null=True, blank=True)  # the current generation's birth
    idle_expires_at = models.DateTimeField()
    absolute_expires_at = models.DateTimeField()

    user_agent = models.CharField(max_length=255, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    # The ``pwv`` claim's value for the user's password when the family last rotated: a keyed
    # fingerprint of the password hash, so a changed password (even by update()) refuses.
    password_version = models.CharField(max_length=16)
    # HMAC of the last rotation's user agent and network: a grace replay must match it.
    client_binding = models.CharField(max_length=32, blank=True)
    # DPoP (DESIGN §8): the RFC 7638 thumbprint of the key the family is bound to, set by the
    # first valid proof and never cleared. A public key's digest: no secret. Never queried by,
    # so no index. NULL, not "": unbound is no value, and a bound row always has 43 characters.
    dpop_jkt = models.CharField(  # noqa: DJ001  # NULL means unbound, as above
        max_length=43, null=True, blank=True, editable=False
    )

    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.CharField(
        max_length=32, choices=RevocationReason.choices, blank=True
    )
    reuse_detected_at = models.DateTimeField(null=True, blank=True)
    reuse_ip_address = models.GenericIPAddressField(null=True, blank=True)
    reuse_user_agent = models.CharField(max_length=255, blank=True)

    objects = RefreshTokenFamilyQuerySet.as_manager()

    class Meta:
        verbose_name = _("refresh token family")
        verbose_name_plural = _("refresh token families")
        permissions = [("revoke_refreshtokenfamily", "Can revoke refresh token families")]
        indexes = [
            models.Index(fields=["user", "revoked_at"], name="tokenauth_user_revoked"),
            models.Index(fields=["absolute_expires_at"], name="tokenauth_absolute_exp"),
            models.Index(fields=["idle_expires_at"], name="tokenauth_idle_exp"),
            models.Index(fields=["revoked_at"], name="tokenauth_revoked_at"),
        ]

    def __str__(self) -> str:
        # The username only when the row came with its user (the admin loads them together):
        # str() must never cost a query (a user's delete page lists each of their families).
        if RefreshTokenFamily.user.is_cached(self):
            return f"family {self.public_id} of {self.user.get_username()}"
        return f"family {self.public_id} of user {self.user_id}"

    @property
    def expires_at(self):  # type: ignore[no-untyped-def]  # datetime; stubs type fields loosely
        """When the family dies if unused: idle expiry, capped by the absolute one."""
        return min(self.idle_expires_at, self.absolute_expires_at)
