"""The settings reference (docs/settings.md) covers every TOKENAUTH key and every check id."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from tokenauth import checks
from tokenauth.settings import TokenAuthSettings

SETTINGS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def test_every_tokenauth_key_has_a_section_in_the_settings_reference() -> None:
    keys = {f.name.upper() for f in dataclasses.fields(TokenAuthSettings)} - {"PROBLEMS"}
    sections = set(re.findall(r"^### `([A-Z_]+)`$", SETTINGS_PAGE.read_text(), re.MULTILINE))

    assert keys - sections == set(), "keys without a section in docs/settings.md"
    assert sections - keys == set(), "sections for keys that do not exist"


def test_every_check_id_is_in_the_settings_reference() -> None:
    ids = set(re.findall(r"^\| ([EW]\d{3}) \|", checks.__doc__ or "", re.MULTILINE))
    documented = set(re.findall(r"^\| ([EW]\d{3}) \|", SETTINGS_PAGE.read_text(), re.MULTILINE))

    assert ids, "checks.py's table of ids moved"
    assert ids == documented
