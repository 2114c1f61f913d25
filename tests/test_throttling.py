"""The login throttle (``tokenauth._throttling``, DESIGN §2): buckets and reservations before the
hash (an unreachable throttle cache: tests/test_cache_outage.py)."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import caches
from django.db import OperationalError
from django.test import Client

from tests.conftest import post_json, requires_redis, requires_server_database
from tests.factories import PASSWORD, UserFactory
from tokenauth import _throttling
from tokenauth._fingerprints import client_binding
from tokenauth.models import RefreshTokenFamily

pytestmark = pytest.mark.django_db

HOME = "203.0.113.7"
ATTACKER = "198.51.100.66"


def _clear_redis() -> None:
    from django.conf import settings

    cache = caches["redis"]
    client = cache._cache.get_client(write=True)
    for name in client.scan_iter(match=f"{settings.CACHES['redis']['KEY_PREFIX']}:*"):
        client.delete(name)


@pytest.fixture(params=["default", pytest.param("redis", marks=requires_redis)])
def throttle(
    request: pytest.FixtureRequest, tokenauth_settings: Callable[..., None]
) -> Iterator[Callable[..., None]]:
    """Turn the throttle on, counting in LocMem and (with REDIS_URL) in Redis, whose counters
    take another code path (one script per attempt)."""

    def _on(rate: str = "3/min", **more: Any) -> None:
        tokenauth_settings(**{"LOGIN_THROTTLE_RATE": rate, "CACHE_ALIAS": request.param, **more})

    if request.param == "redis":
        _clear_redis()
    yield _on
    if request.param == "redis":
        _clear_redis()


def _login(client: Client, username: str, password: str, ip: str | None) -> Any:
    extra = {"REMOTE_ADDR": ip} if ip is not None else {"REMOTE_ADDR": ""}
    return post_json(client, "/auth/login/", {"username": username, "password": password}, **extra)


# --- 1. reservations: parallel guesses cannot overshoot -----------------------------------


class SlowHasher(PBKDF2PasswordHasher):
    """A hash slow enough (tens of ms) for parallel requests to overlap inside it."""

    iterations = 60_000


def _post(url: str, body: dict[str, str], forwarded_for: str) -> int:
    request = urllib.request.Request(  # noqa: S310  # the test's own live server
        url,
        json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-Forwarded-For": forwarded_for},
    )
    for _ in range(10):  # the live server's listen backlog is 5: a reset never reached Django
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except (ConnectionResetError, urllib.error.URLError):
            time.sleep(0.05)
    raise AssertionError("the live server never answered")


@pytest.mark.parametrize(
    "network",
    [
        pytest.param(lambda index: "192.0.2.33", id="one-ipv4-address"),
        pytest.param(lambda index: f"2001:db8:7:8::{index + 1:x}", id="one-ipv6-64"),
    ],
)
@requires_server_database
@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_passwords_reach_the_hash_at_most_limit_times(
    live_server: Any, settings: Any, throttle: Callable[..., None], network: Any
) -> None:
    settings.PASSWORD_HASHERS = ["tests.test_throttling.SlowHasher"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    throttle("10/h")
    user = UserFactory()
    hashed: list[str] = []

    def _count(sender: Any, **kwargs: Any) -> None:
        hashed.append("failed")

    user_login_failed.connect(_count, weak=False, dispatch_uid="test-parallel-throttle")
    url = f"{live_server.url}/auth/login/"
    statuses: list[int] = []
    start = threading.Barrier(40)

    def _guess(index: int) -> None:
        start.wait()
        body = {"username": user.username, "password": f"guess-{index}"}
        statuses.append(_post(url, body, network(index)))

    threads = [threading.Thread(target=_guess, args=(index,)) for index in range(40)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        right = _post(url, {"username": user.username, "password": PASSWORD}, network(99))
    finally:
        user_login_failed.disconnect(dispatch_uid="test-parallel-throttle")

    assert len(statuses) == 40
    assert len(hashed) <= 10, f"{len(hashed)} password hashes ran against a limit of 10"
    assert sorted(set(statuses)) == [400, 429]
    assert statuses.count(400) == len(hashed)
    assert right == 429  # the guessing network is spent, even with the right password
    assert not RefreshTokenFamily.objects.exists()


def test_a_success_gives_its_reservation_back(
    client: Client, user: Any, clock: Any, throttle: Callable[..., None]
) -> None:
    throttle("3/min")
    for ip in ("192.0.2.1", "192.0.2.2"):
        assert _login(client, user.username, "wrong", ip).status_code == 400
    # Many successes from many networks never use up the username's failure budget.
    for index in range(5):
        assert _login(client, user.username, PASSWORD, f"192.0.2.{10 + index}").status_code == 200

    assert _login(client, user.username, "wrong", "192.0.2.1").status_code == 400
    assert _login(client, user.username, PASSWORD, "192.0.2.1").status_code == 200


# --- 2. strangers cannot lock the owner out -----------------------------------------------


def test_a_stranger_cannot_lock_the_owner_out(
    client: Client, user: Any, clock: Any, throttle: Callable[..., None]
) -> None:
    throttle("10/min")
    for index in range(10):
        assert _login(client, user.username, f"guess-{index}", ATTACKER).status_code == 400

    assert _login(client, user.username, "guess-10", ATTACKER).status_code == 429
    assert _login(client, user.username, PASSWORD, ATTACKER).status_code == 429
    at_home = _login(client, user.username, PASSWORD, HOME)
    assert at_home.status_code == 200, at_home.content


def test_past_ten_times_the_limit_only_networks_that_failed_are_throttled(
    client: Client, user: Any, clock: Any, throttle: Callable[..., None]
) -> None:
    throttle("2/min")  # 10 x 2 = 20 failures across networks before the username tightens
    botnet = [f"198.51.{net}.1" for net in range(20)]
    for ip in botnet:
        assert _login(client, user.username, "guess", ip).status_code == 400

    # Past 20 failures, a network that has failed for the username is throttled at once...
    assert _login(client, user.username, "guess", botnet[0]).status_code == 429
    assert _login(client, user.username, PASSWORD, botnet[1]).status_code == 429
    # ...a fresh network of the botnet has its one guess and then nothing more...
    assert _login(client, user.username, "guess", "198.51.200.1").status_code == 400
    assert _login(client, user.username, "guess", "198.51.200.1").status_code == 429
    # ...and the owner, whose network never failed, still gets in.
    assert _login(client, user.username, PASSWORD, HOME).status_code == 200
    clock.shift(timedelta(minutes=1))
    assert _login(client, user.username, PASSWORD, botnet[0]).status_code == 200


BOTNET = [f"198.51.100.{i}" for i in range(1, 12)]  # 11 networks x 3 failures > 10 x 3


def _botnet_guesses(client: Client, username: str) -> None:
    """A stranger's wrong guesses from 11 networks: past 10 x N failures for the name."""
    for ip in BOTNET:
        for _ in range(3):
            _login(client, username, "wrong", ip)


@pytest.mark.usefixtures("clock")
def test_overlapping_correct_logins_do_not_taint_a_network_that_never_failed(
    client: Client,
    throttle: Callable[..., None],
    user: Any,
) -> None:
    """DESIGN §2: under a botnet, "a network with no failure for it still gets through".

    Two of the owner's devices at home log in at the same time (both reservations are taken
    before either hash ends). The second is refused, and its refused reservation is never given
    back: from then on home counts as a network that failed, and the owner's next correct
    login is 429 for the rest of the window, though no wrong password ever came from home.
    """
    throttle("3/min")
    _botnet_guesses(client, user.username)
    first = _throttling.admit_login(ip=HOME, username=user.username)
    _throttling.admit_login(ip=HOME, username=user.username)  # the other device, meanwhile
    first.not_a_failure()  # the first device's password was right

    response = _login(client, user.username, PASSWORD, HOME)

    assert response.status_code == 200, response.content


class LockedDatabaseBackend:
    """An authentication backend whose database is locked: authenticate() raises mid-way."""

    def authenticate(self, request: Any, **credentials: Any) -> None:
        raise OperationalError("database is locked")


@pytest.mark.usefixtures("clock")
def test_a_database_outage_during_the_hash_is_no_failed_guess(
    client: Client, settings: Any, throttle: Any, user: Any
) -> None:
    """A 503 answered no guess: under a botnet it must not mark home as a network that failed."""
    throttle("3/min")
    _botnet_guesses(client, user.username)
    backends = settings.AUTHENTICATION_BACKENDS
    settings.AUTHENTICATION_BACKENDS = ["tests.test_throttling.LockedDatabaseBackend"]
    assert _login(client, user.username, PASSWORD, HOME).status_code == 503
    settings.AUTHENTICATION_BACKENDS = backends

    response = _login(client, user.username, PASSWORD, HOME)

    assert response.status_code == 200, response.content


# --- 3. networks: IPv6 /64, IPv4-mapped addresses ------------------------------------------


def test_addresses_of_one_ipv6_64_share_a_bucket(
    client: Client, clock: Any, throttle: Callable[..., None]
) -> None:
    throttle("3/min")
    statuses = [
        _login(client, f"name{index}", "x", f"2001:db8:5:6::{index + 1:x}").status_code
        for index in range(25)
    ]

    assert statuses[:3] == [400, 400, 400]
    assert set(statuses[3:]) == {429}
    other_64 = _login(client, "name99", "x", "2001:db8:5:7::1")
    assert other_64.status_code == 400


def test_ipv4_addresses_are_buckets_of_their_own(
    client: Client, clock: Any, throttle: Callable[..., None]
) -> None:
    throttle("2/min")
    for ip in ("192.0.2.1", "192.0.2.1"):
        assert _login(client, "someone", "x", ip).status_code == 400

    assert _login(client, "someone", "x", "192.0.2.1").status_code == 429
    assert _login(client, "other", "x", "192.0.2.2").status_code == 400


def test_an_ipv4_mapped_address_is_the_ipv4_address(
    client: Client, clock: Any, throttle: Callable[..., None]
) -> None:
    throttle("2/min")
    assert _login(client, "a", "x", "::ffff:192.0.2.9").status_code == 400
    assert _login(client, "b", "x", "192.0.2.9").status_code == 400

    assert _login(client, "c", "x", "::ffff:192.0.2.9").status_code == 429
    # Not "::/64": another IPv4 client of a dual-stack socket keeps its own bucket.
    assert _login(client, "d", "x", "::ffff:192.0.2.10").status_code == 400


def test_an_ipv4_mapped_login_stores_the_ipv4_address(client: Client, user: Any) -> None:
    assert _login(client, user.username, PASSWORD, "::ffff:192.0.2.9").status_code == 200

    assert RefreshTokenFamily.objects.get().ip_address == "192.0.2.9"


# IPv4 clients inside IPv6 forms: NAT64, SIIT, 6to4.

EMBEDDED = [
    # RFC 6052 NAT64 well-known prefix, as an IPv6-only server behind SIIT-DC/NAT46 sees
    # IPv4 clients: every IPv4 client of the Internet falls in 64:ff9b::/64.
    pytest.param("64:ff9b::198.51.100.66", "64:ff9b::203.0.113.7", id="nat64-64:ff9b::/96"),
    # RFC 2765 IPv4-translated (SIIT): all of them in ::/64, with ::1.
    pytest.param("::ffff:0:198.51.100.66", "::ffff:0:203.0.113.7", id="siit-::ffff:0:0/96"),
]


@pytest.mark.usefixtures("clock")
@pytest.mark.parametrize(("attacker", "owner"), EMBEDDED)
def test_ipv4_clients_behind_nat64_do_not_share_one_network_bucket(
    client: Client,
    throttle: Any,
    user: Any,
    attacker: str,
    owner: str,
) -> None:
    """Three wrong guesses (for other names) from one IPv4 client lock out another IPv4
    client's correct login: both are one "/64"."""
    throttle("3/min")
    for index in range(3):
        _login(client, f"someone-{index}", "wrong", attacker)

    response = _login(client, user.username, PASSWORD, owner)

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(("attacker", "owner"), EMBEDDED)
def test_the_grace_binding_tells_two_ipv4_clients_behind_nat64_apart(
    attacker: str, owner: str
) -> None:
    """DESIGN §5: the binding is the IPv4 /24; two unrelated /24s behind NAT64 bind alike,
    so a thief with the victim's user agent anywhere on IPv4 passes the grace check."""
    agent = "Mozilla/5.0"
    assert client_binding(ip=attacker, user_agent=agent) != client_binding(
        ip=owner, user_agent=agent
    )


@pytest.mark.usefixtures("clock")
def test_one_6to4_client_is_one_network(client: Client, throttle: Any) -> None:
    """2002:c633:6442::/48 is the 6to4 space of the single IPv4 address 198.51.100.66: its
    65,536 /64s are 65,536 network buckets for one IPv4 host (N guesses each)."""
    throttle("3/min")
    statuses = [
        _login(client, f"someone-{i}", "wrong", f"2002:c633:6442:{i:x}::1").status_code
        for i in range(4)
    ]

    assert statuses == [400, 400, 400, 429]


# --- 4. look-alike usernames share one budget ----------------------------------------------


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


@pytest.mark.parametrize(
    "variants",
    [
        pytest.param(["alice", "ALICE", "al\u0131ce", "AlIce"], id="dotless-i"),
        pytest.param(["alice", _fullwidth("alice"), _fullwidth("ALICE")], id="fullwidth"),
        pytest.param(["straße", "STRASSE", "strasse"], id="sharp-s"),
        pytest.param(["\ufb01le", "file", "FILE"], id="ligature"),
    ],
)
def test_look_alike_usernames_share_one_failure_budget(
    client: Client, clock: Any, throttle: Callable[..., None], variants: list[str]
) -> None:
    throttle("2/min")  # 20 failures across networks, then failing networks are throttled
    for index in range(20):
        username = variants[index % len(variants)]
        assert _login(client, username, "x", f"198.51.{index}.1").status_code == 400

    # Each network has failed once; any spelling of the name now counts as the same name.
    for index, username in enumerate(reversed(variants)):
        assert _login(client, username, "x", f"198.51.{index}.1").status_code == 429


def test_the_username_key_is_nfkc_then_upper_then_casefold() -> None:
    key = _throttling._username_key

    assert key("al\u0131ce") == key("ALICE") == key(_fullwidth("alice")) == key("alice")
    assert key("alice") != key("alicf")


# --- 5. no silent no-ops -------------------------------------------------------------------


@pytest.fixture
def warnings_seen(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    _throttling._warn_shared_bucket.cache_clear()
    caplog.set_level(logging.WARNING, logger="tokenauth")
    yield caplog
    _throttling._warn_shared_bucket.cache_clear()


def _shared_bucket_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "NUM_PROXIES" in r.getMessage()]


@pytest.mark.parametrize("ip", [None, "127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_a_login_without_a_client_ip_or_from_loopback_warns_once(
    client: Client,
    user: Any,
    throttle: Callable[..., None],
    warnings_seen: pytest.LogCaptureFixture,
    ip: str | None,
) -> None:
    throttle("100/min")
    for _ in range(3):
        assert _login(client, user.username, PASSWORD, ip).status_code == 200

    warnings = _shared_bucket_warnings(warnings_seen)
    assert len(warnings) == 1
    assert "deployment checklist" in warnings[0]


def test_no_warning_from_a_real_client_or_with_num_proxies(
    client: Client,
    user: Any,
    settings: Any,
    throttle: Callable[..., None],
    warnings_seen: pytest.LogCaptureFixture,
) -> None:
    throttle("100/min")
    assert _login(client, user.username, PASSWORD, HOME).status_code == 200
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    response = _login(client, user.username, PASSWORD, "127.0.0.1")
    assert response.status_code == 200

    assert _shared_bucket_warnings(warnings_seen) == []


def test_the_throttle_counts_in_the_cache_of_cache_alias(
    client: Client, user: Any, settings: Any, clock: Any, throttle: Callable[..., None]
) -> None:
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "t"},
    }
    throttle("1/min", CACHE_ALIAS="throttle")
    caches["throttle"].clear()
    assert _login(client, user.username, "x", HOME).status_code == 400
    assert _login(client, user.username, PASSWORD, HOME).status_code == 429

    caches["throttle"].clear()
    assert _login(client, user.username, PASSWORD, HOME).status_code == 200


def test_logged_in_signal_still_fires_with_the_throttle_on(
    client: Client, user: Any, throttle: Callable[..., None]
) -> None:
    throttle("5/min")
    seen: list[Any] = []

    def _receiver(sender: Any, user: Any, **kwargs: Any) -> None:
        seen.append(user.pk)

    user_logged_in.connect(_receiver, weak=False, dispatch_uid="test-throttle-logged-in")
    try:
        assert _login(client, user.username, PASSWORD, HOME).status_code == 200
    finally:
        user_logged_in.disconnect(dispatch_uid="test-throttle-logged-in")
    assert seen == [user.pk]
