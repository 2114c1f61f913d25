"""Read-only admin for refresh-token families: what support sees. Never shows a secret."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.core.exceptions import BadRequest, FieldDoesNotExist, ValidationError
from django.db.models import QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.db.models.functions import Least
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from tokenauth import _admin_actions, service
from tokenauth._admin_display import breakable, exact_time, relative_time, shortened
from tokenauth._admin_filters import ReuseDetectedFilter, StatusFilter, status_of
from tokenauth._user_agents import short_user_agent
from tokenauth.models import RefreshTokenFamily, RevocationReason

__all__ = ["RefreshTokenFamilyAdmin"]

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[RefreshTokenFamily]
else:
    _ModelAdmin = admin.ModelAdmin  # not subscriptable at run time

# Never filterable, even via a relation (``user__token_families__secret``): a changelist
# filter answers "how many rows match", so ``secret__startswith=`` recovers a secret one
# character at a time, and the secret with SECRET_KEY rebuilds the live refresh token. The
# password version and client binding are MACs of the password hash and the client;
# ``password`` is the user's hash (``user__password__startswith``; Django's default rule
# refuses that one too).
_UNFILTERABLE = frozenset({"secret", "password_version", "client_binding", "password"})

# The detail page, reuse incident first. ``secret``, ``password_version`` and
# ``client_binding`` are deliberately absent: with SECRET_KEY the secret would mint tokens.
_REUSE_INCIDENT = (
    "Reuse incident",
    {
        "fields": ["reuse_when", "reuse_ip", "reuse_agent"],
        "classes": ["tokenauth-reuse-incident"],
        "description": (
            "A refresh token of this session was presented again after it had been exchanged: "
            "someone else held a copy, and the session was revoked at that moment. Below: "
            "when, from which IP address and with which user agent the copy came back."
        ),
    },
)
_FIELDSETS = (
    (
        None,
        {
            "fields": [
                "user",
                "status",
                "public_id",
                "refresh_count",
                "user_agent",
                "client_ip",
                "dpop_key",
            ]
        },
    ),
    (
        "Times",
        {
            "fields": [
                "created_at",
                "last_used_at",
                "rotated_at",
                "expires_exactly",
                "idle_expires_at",
                "absolute_expires_at",
            ]
        },
    ),
    ("Revocation", {"fields": ["revoked_at", "revocation_reason"]}),
)


@admin.register(RefreshTokenFamily)
class RefreshTokenFamilyAdmin(_ModelAdmin):
    list_display = [
        "username",
        "status",
        "created",
        "last_used",
        "expires",
        "refresh_count",
        "short_user_agent",
        "ip",
        "dpop_bound",
    ]
    list_filter = [StatusFilter, "revocation_reason", ReuseDetectedFilter]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    readonly_fields = [
        field for _, options in (_REUSE_INCIDENT, *_FIELDSETS) for field in options["fields"]
    ]
    actions = [_admin_actions.revoke_sessions, _admin_actions.revoke_users_sessions]

    class Media:
        css = {"all": ["tokenauth/admin.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[RefreshTokenFamily]:
        """With the user, in the same query: the list, detail, delete and confirmation pages."""
        queryset = super().get_queryset(request).select_related("user")
        return queryset.annotate(expiry=Least("idle_expires_at", "absolute_expires_at"))

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and obj.reuse_detected_at is not None:
            return [_REUSE_INCIDENT, *_FIELDSETS]
        return list(_FIELDSETS)

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        user_model = get_user_model()
        user_fields = {user_model.USERNAME_FIELD, user_model.get_email_field_name()}
        return [
            "public_id__startswith",
            "ip_address__icontains",
            "reuse_ip_address__icontains",
            *(f"user__{name}__icontains" for name in sorted(user_fields) if _has_field(name)),
        ]

    # The columns. Each reads the row as loaded (with its user): no query per row.

    @admin.display(description="user")
    def username(self, family: RefreshTokenFamily) -> SafeString:
        return shortened(family.user.get_username(), 20)

    @admin.display(description="status")
    def status(self, family: RefreshTokenFamily) -> SafeString:
        status = status_of(family, timezone.now())
        css = status.partition(":")[0]
        if family.reuse_detected_at is not None:
            css += " tokenauth-reuse"
        return format_html('<span class="tokenauth-status {}">{}</span>', css, breakable(status))

    @admin.display(description="created", ordering="created_at")
    def created(self, family: RefreshTokenFamily) -> SafeString:
        return relative_time(family.created_at, timezone.now())

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, family: RefreshTokenFamily) -> SafeString:
        return relative_time(family.last_used_at, timezone.now())

    @admin.display(description="expires", ordering="expiry")
    def expires(self, family: RefreshTokenFamily) -> SafeString:
        return relative_time(family.expires_at, timezone.now())

    @admin.display(description="refresh count", ordering="generation")
    def refresh_count(self, family: RefreshTokenFamily) -> int:
        return family.generation

    @admin.display(description="user agent")
    def short_user_agent(self, family: RefreshTokenFamily) -> SafeString | str:
        if not family.user_agent:
            return self.get_empty_value_display()
        summary = short_user_agent(family.user_agent)
        return format_html('<span title="{}">{}</span>', family.user_agent, summary)

    @admin.display(description="IP", ordering="ip_address")
    def ip(self, family: RefreshTokenFamily) -> SafeString | str:
        if not family.ip_address:
            return self.get_empty_value_display()
        return breakable(family.ip_address)

    @admin.display(description="DPoP", boolean=True)
    def dpop_bound(self, family: RefreshTokenFamily) -> bool:
        """Whether the family is bound to a DPoP key (DESIGN §8, §11): from the row itself."""
        return family.dpop_jkt is not None

    # The detail page's own labels ("IP address", not "Ip address"; the incident's "when").

    @admin.display(description="IP address")
    def client_ip(self, family: RefreshTokenFamily) -> str | None:
        return family.ip_address

    @admin.display(description="DPoP key thumbprint (jkt)")
    def dpop_key(self, family: RefreshTokenFamily) -> str | None:
        """The RFC 7638 thumbprint of the bound key: a public key's digest, no secret."""
        return family.dpop_jkt

    @admin.display(description="expires at")
    def expires_exactly(self, family: RefreshTokenFamily) -> str | None:
        return exact_time(family.expires_at)

    @admin.display(description="detected at")
    def reuse_when(self, family: RefreshTokenFamily) -> str | None:
        return exact_time(family.reuse_detected_at)

    @admin.display(description="IP address")
    def reuse_ip(self, family: RefreshTokenFamily) -> str | None:
        return family.reuse_ip_address

    @admin.display(description="user agent")
    def reuse_agent(self, family: RefreshTokenFamily) -> str:
        return family.reuse_user_agent

    # Permissions and protections.

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # read-only; deleting stays allowed so deleting a user is never blocked

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        """Revoking is its own permission: viewing sessions must not let staff end them."""
        return request.user.has_perm("tokenauth.revoke_refreshtokenfamily")

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        """Refuse (400) any filter through a secret field, whatever the transform, and any
        value with a NUL (PostgreSQL refuses the query: a 500)."""
        if _UNFILTERABLE.intersection(lookup.split(LOOKUP_SEP)) or "\x00" in str(value):
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

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """A selection that is not a list of primary keys is a 400 (Django's own is a 500)."""
        if request.method == "POST":
            for pk in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                try:
                    self.opts.pk.clean(pk, None)
                except ValidationError:
                    raise BadRequest(f"not a primary key: {pk!r}") from None
        return super().changelist_view(request, extra_context)

    def delete_model(self, request: HttpRequest, obj: RefreshTokenFamily) -> None:
        """The one-family delete page revokes first, so signals and cache markers still fire."""
        service.revoke_families(family_public_ids=[obj.public_id], reason=RevocationReason.ADMIN)
        super().delete_model(request, obj)


def _has_field(name: str) -> bool:
    """Whether the user model has this concrete field (``EMAIL_FIELD`` may name none)."""
    try:
        get_user_model()._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True
