"""The list column's short user agent: browser and platform, a tool's product, or a cut."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenauth._user_agents import short_user_agent

AGENTS = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36": "Chrome 126 on Windows",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87": "Edge 126 on Windows",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0": "Opera 111 on macOS",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15": "Safari 17 on macOS",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1": "Safari 17 on iOS",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1": "Chrome 126 on iOS",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0": (
        "Firefox 128 on Linux"
    ),
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.6478.71 Mobile Safari/537.36": "Chrome 126 on Android",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36": "Chrome 126 on ChromeOS",
    "curl/8.5.0": "curl 8.5.0",
    "okhttp/4.12.0": "okhttp 4.12.0",
    "python-requests/2.32.3": "python-requests 2.32.3",
    "MyApp/3.1 (iPhone; iOS 17.5; Scale/3.00)": "MyApp 3.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)": "Googlebot 2.1",
    "Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15": (
        "Mozilla/5.0 (PlayStatio…"
    ),
    "": "",
}


@pytest.mark.parametrize(("user_agent", "expected"), AGENTS.items())
def test_a_user_agent_is_summarised(user_agent: str, expected: str) -> None:
    assert short_user_agent(user_agent) == expected


def test_a_long_product_name_is_cut_with_an_ellipsis() -> None:
    agent = "ACME-Corporate-Mobile-Workforce-Synchronisation-Agent/2024.11.3"

    assert short_user_agent(agent) == "ACME-Corporate-Mobile-W…"


def test_control_characters_never_reach_the_cell() -> None:
    assert short_user_agent("curl/8.5.0\r\nX-Forged: 1") == "curl 8.5.0"
    assert short_user_agent("Mozilla/5.0\t(X11;\nLinux)") == "Linux"


@given(st.text(max_size=300))
def test_any_user_agent_gives_a_short_single_line(user_agent: str) -> None:
    short = short_user_agent(user_agent)

    assert len(short) <= 24
    assert not any(c in short for c in "\r\n\t")
