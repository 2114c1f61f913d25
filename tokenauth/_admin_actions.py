"""The admin's two revoke actions: a confirmation page first, then one call to ``service``.

The action form's POST only renders the confirmation, which lists what will be revoked and
posts the same selection back with ``post=yes``; only that second POST revokes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from tokenauth import service
from tokenauth._admin_display import breakable, relative_time, shortened
from tokenauth._admin_filters import status_of
from tokenauth._user_agents import short_user_agent
from tokenauth.models import RefreshTokenFamily, RevocationReason
from tokenauth.settings import get_settings

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

    _ModelAdmin = admin.ModelAdmin[RefreshTokenFamily]

__all__ = ["revoke_sessions", "revoke_users_sessions"]

_TEMPLATE = "admin/tokenauth/refreshtokenfamily/revoke_confirmation.html"
_REVOKE_SESSIONS = "Revoke selected sessions"
_REVOKE_USERS = "Revoke every session of the selected sessions' users"


@dataclass(frozen=True)
class _SessionRow:
    public_id: str
    username: SafeString
    status: str
    last_used: SafeString
    user_agent: SafeString
    ip: SafeString

    @classmethod
    def of(cls, family: RefreshTokenFamily, now: datetime) -> _SessionRow:
        agent = family.user_agent
        summary = format_html('<span title="{}">{}</span>', agent, short_user_agent(agent))
        return cls(
            public_id=family.public_id,
            username=shortened(family.user.get_username(), 24),
            status=status_of(family, now),
            last_used=relative_time(family.last_used_at, now),
            user_agent=summary if agent else SafeString("-"),
            ip=breakable(family.ip_address or "-"),
        )


@dataclass(frozen=True)
class _UserRow:
    username: SafeString
    to_revoke: int


@admin.action(description=_REVOKE_SESSIONS, permissions=["revoke"])
def revoke_sessions(
    modeladmin: _ModelAdmin, request: HttpRequest, queryset: QuerySet[RefreshTokenFamily]
) -> TemplateResponse | None:
    families = list(queryset)
    if not _confirmed(request):
        now = timezone.now()
        return _confirmation(
            modeladmin,
            request,
            families,
            action_name="revoke_sessions",
            description=_REVOKE_SESSIONS,
            to_revoke=sum(family.revoked_at is None for family in families),
            sessions=[_SessionRow.of(family, now) for family in families],
        )
    count = service.revoke_families(
        family_public_ids=[family.public_id for family in families],
        reason=RevocationReason.ADMIN,
    )
    modeladmin.message_user(request, f"Revoked {_plural(count, 'session')}.", messages.SUCCESS)
    return None


@admin.action(description=_REVOKE_USERS, permissions=["revoke"])
def revoke_users_sessions(
    modeladmin: _ModelAdmin, request: HttpRequest, queryset: QuerySet[RefreshTokenFamily]
) -> TemplateResponse | None:
    families = list(queryset)
    users = _users_of(families)
    if not _confirmed(request):
        counts = _unrevoked_counts(users)
        return _confirmation(
            modeladmin,
            request,
            families,
            action_name="revoke_users_sessions",
            description=_REVOKE_USERS,
            to_revoke=sum(counts.values()),
            users=[_UserRow(shortened(u.get_username(), 24), counts.get(u.pk, 0)) for u in users],
        )
    # One transaction per user: should one fail, the users before it stay revoked (the safe side).
    count = sum(service.revoke_user(user=user, reason=RevocationReason.ADMIN) for user in users)
    message = f"Revoked {_plural(count, 'session')} of {_plural(len(users), 'user')}."
    modeladmin.message_user(request, message, messages.SUCCESS)
    return None


def _confirmed(request: HttpRequest) -> bool:
    """Only the confirmation page's own POST carries ``post=yes``."""
    return request.method == "POST" and request.POST.get("post") == "yes"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _users_of(families: list[RefreshTokenFamily]) -> list[AbstractBaseUser]:
    by_pk = {family.user_id: family.user for family in families}  # loaded with the families
    return sorted(by_pk.values(), key=lambda user: user.get_username())


def _unrevoked_counts(users: list[AbstractBaseUser]) -> dict[Any, int]:
    """How many families of each user are not revoked yet: what revoking them will mark."""
    rows = (
        RefreshTokenFamily.objects.filter(
            user_id__in=[user.pk for user in users], revoked_at__isnull=True
        )
        .values_list("user_id")
        .annotate(count=Count("pk"))
    )
    return dict(rows)


def _confirmation(
    modeladmin: _ModelAdmin,
    request: HttpRequest,
    families: list[RefreshTokenFamily],
    **page: object,
) -> TemplateResponse:
    """The page, carrying the selection (and CSRF) back to the changelist with ``post=yes``."""
    context: dict[str, object] = {
        **modeladmin.admin_site.each_context(request),
        "title": f"{page['description']}?",
        "subtitle": None,
        "opts": modeladmin.opts,
        "media": modeladmin.media,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "selected_pks": [family.pk for family in families],
        "access_tokens_outlive": get_settings().access_token_revocation == "none",
        **page,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, _TEMPLATE, context)
