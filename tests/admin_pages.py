"""Read the family admin's pages as support sees them: rows and cells of the changelist."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from django.contrib.auth.models import Permission
from django.test import Client

from tests.factories import UserFactory

CHANGELIST = "/admin/tokenauth/refreshtokenfamily/"


def staff(*codenames: str, superuser: bool = False, **client_options: Any) -> Client:
    """A Client logged in (session) as a staff user with these permissions."""
    user = UserFactory(is_staff=True, is_superuser=superuser)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client(**client_options)
    client.force_login(user)
    return client


class _Rows(HTMLParser):
    """Each ``#result_list`` body row as {column: text}, plus {column: title attributes}."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self.titles: list[dict[str, list[str]]] = []
        self._in_list = self._in_body = False
        self._column: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table" and attributes.get("id") == "result_list":
            self._in_list = True
        elif self._in_list and tag == "tbody":
            self._in_body = True
        elif self._in_body and tag == "tr":
            self.rows.append({})
            self.titles.append({})
        elif self._in_body and tag in ("td", "th"):
            classes = (attributes.get("class") or "").split()
            fields = [c.removeprefix("field-") for c in classes if c.startswith("field-")]
            self._column = fields[0] if fields else None
            if self._column:
                self.rows[-1][self._column] = ""
                self.titles[-1][self._column] = []
        if self._column and attributes.get("title"):
            self.titles[-1][self._column].append(attributes["title"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._column = None
        elif tag == "tbody":
            self._in_body = self._in_list = False

    def handle_data(self, data: str) -> None:
        if self._column:
            self.rows[-1][self._column] += data


def rows(response: Any) -> list[dict[str, str]]:
    """The changelist's rows, each {column: the cell's text, whitespace collapsed}."""
    parser = _Rows()
    parser.feed(response.content.decode())
    return [{k: " ".join(v.split()) for k, v in row.items()} for row in parser.rows]


def titles(response: Any) -> list[dict[str, list[str]]]:
    """The ``title`` attributes (the full values behind shortened cells), row by row."""
    parser = _Rows()
    parser.feed(response.content.decode())
    return parser.titles
