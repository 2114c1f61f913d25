"""A family's status as support sees it (active, expired, revoked), shown and filtered on."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from tokenauth.models import RefreshTokenFamily

__all__ = ["ReuseDetectedFilter", "StatusFilter", "status_of"]

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin


def status_of(family: RefreshTokenFamily, now: datetime) -> str:
    """``active``, ``expired`` or ``revoked: <reason>``; a revocation outranks an expiry."""
    if family.revoked_at is not None:
        return f"revoked: {family.revocation_reason}"
    if family.expires_at <= now:
        return "expired"
    return "active"


def _unexpired(now: datetime) -> Q:
    return Q(idle_expires_at__gt=now, absolute_expires_at__gt=now)


class _ChoiceFilter(admin.SimpleListFilter):
    """A filter whose value must be one of its choices: anything else is a bad lookup."""

    def lookups(
        self, request: HttpRequest, model_admin: ModelAdmin[RefreshTokenFamily]
    ) -> list[tuple[str, str]]:
        return [(value, value) for value in self.conditions_at(timezone.now())]

    def conditions_at(self, now: datetime) -> dict[str, Q]:
        raise NotImplementedError

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[RefreshTokenFamily]
    ) -> QuerySet[RefreshTokenFamily]:
        value = self.value()
        if value is None:
            return queryset
        condition = self.conditions_at(timezone.now()).get(value)
        if condition is None:
            # The changelist answers this with its "?e=1" page, as for any bad lookup.
            raise IncorrectLookupParameters(f"unknown {self.parameter_name}: {value!r}")
        return queryset.filter(condition)


class StatusFilter(_ChoiceFilter):
    title = "status"
    parameter_name = "status"

    def conditions_at(self, now: datetime) -> dict[str, Q]:
        not_revoked = Q(revoked_at__isnull=True)
        return {
            "active": not_revoked & _unexpired(now),
            "expired": not_revoked & ~_unexpired(now),
            "revoked": Q(revoked_at__isnull=False),
        }


class ReuseDetectedFilter(_ChoiceFilter):
    title = "reuse detected"
    parameter_name = "reuse_detected"

    def conditions_at(self, now: datetime) -> dict[str, Q]:
        return {
            "yes": Q(reuse_detected_at__isnull=False),
            "no": Q(reuse_detected_at__isnull=True),
        }
