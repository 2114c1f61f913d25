"""The ``tokenauth_keys`` command, through ``call_command``: the keys it makes really sign."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from django.core.management import CommandError, call_command, execute_from_command_line
from django.test import Client
from jwcrypto.jwk import JWK

from tokenauth._key_settings import ALGORITHMS, HMAC_ALGORITHMS
from tokenauth.checks import check_settings
from tokenauth.management.commands.tokenauth_keys import write_new_files

pytestmark = pytest.mark.django_db

ASYMMETRIC = sorted(ALGORITHMS - set(HMAC_ALGORITHMS))


@pytest.fixture(autouse=True)
def _permissive_umask() -> Iterator[None]:
    """umask 0: the modes the files get are the ones the command asks for, nothing masked."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def _run(*args: str, **options: Any) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("tokenauth_keys", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def _pasted(snippet: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The TOKENAUTH dict and the VERIFYING_KEYS entry, evaluated as a settings file would."""
    settings_part, _, rotation_part = snippet.partition("\n\n# Rotating keys")
    namespace: dict[str, Any] = {}
    exec(settings_part, namespace)  # noqa: S102 - the snippet is the command's own output
    (entry_line,) = [line for line in rotation_part.splitlines() if line.startswith("    {")]
    entry = eval(entry_line.strip().removesuffix(","), namespace)  # noqa: S307 - as above
    return namespace["TOKENAUTH"], entry


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _thumbprint(algorithm: str, key_material: str) -> str:
    """RFC 7638, computed by jwcrypto: an oracle independent of tokenauth/keys.py."""
    if algorithm in HMAC_ALGORITHMS:
        secret = base64.urlsafe_b64encode(key_material.encode()).rstrip(b"=").decode()
        return str(JWK(kty="oct", k=secret).thumbprint())
    return str(JWK.from_pem(key_material.encode()).thumbprint())


def _me(client: Client, access_token: str) -> Any:
    return client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {access_token}")


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_a_generated_key_signs_and_verifies_access_tokens(
    algorithm: str, tmp_path: Path, tokenauth_settings: Any, login: Any, user: Any, client: Client
) -> None:
    stdout, _ = _run("generate", algorithm, "--out", str(tmp_path / "keys"))
    settings, _ = _pasted(stdout)
    kid = settings["SIGNING_KEY_ID"]

    tokenauth_settings(**settings)
    assert check_settings() == []
    access_token = login(user)["access_token"]

    header = jwt.get_unverified_header(access_token)
    assert (header["alg"], header["kid"]) == (algorithm, kid)
    assert _me(client, access_token).json()["username"] == user.username
    if algorithm in HMAC_ALGORITHMS:
        verifying_key = (tmp_path / "keys" / f"{kid}.secret").read_text()
    else:
        verifying_key = (tmp_path / "keys" / f"{kid}.public.pem").read_text()
    payload = jwt.decode(access_token, verifying_key, algorithms=[algorithm])
    assert payload["sub"] == str(user.pk)


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
def test_the_files_are_0600_and_0644_and_named_by_the_kid_jwks_shows(
    algorithm: str, tmp_path: Path, tokenauth_settings: Any, client: Client
) -> None:
    out = tmp_path / "new-dir"
    stdout, stderr = _run("generate", algorithm, "--out", str(out))
    settings, _ = _pasted(stdout)
    kid = settings["SIGNING_KEY_ID"]
    private, public = out / f"{kid}.private.pem", out / f"{kid}.public.pem"

    assert sorted(out.iterdir()) == [private, public]
    assert (_mode(out), _mode(private), _mode(public)) == (0o700, 0o600, 0o644)
    assert kid == _thumbprint(algorithm, public.read_text())
    tokenauth_settings(**settings)
    (published,) = client.get("/auth/jwks.json").json()["keys"]
    assert published["kid"] == kid
    assert "PRIVATE KEY" not in stdout + stderr


def test_the_key_types_and_sizes() -> None:
    expected = {
        "RS256": (rsa.RSAPrivateKey, 3072),
        "PS256": (rsa.RSAPrivateKey, 3072),
        "ES256": (ec.EllipticCurvePrivateKey, "secp256r1"),
        "ES384": (ec.EllipticCurvePrivateKey, "secp384r1"),
        "EdDSA": (ed25519.Ed25519PrivateKey, None),
    }
    for algorithm, (key_type, size) in expected.items():
        stdout, _ = _run("generate", algorithm)
        private_key = serialization.load_pem_private_key(stdout.encode(), password=None)
        assert isinstance(private_key, key_type), algorithm
        if isinstance(private_key, rsa.RSAPrivateKey):
            assert private_key.key_size == size
            assert private_key.public_key().public_numbers().e == 65537
        if isinstance(private_key, ec.EllipticCurvePrivateKey):
            assert private_key.curve.name == size


@pytest.mark.parametrize("algorithm", sorted(HMAC_ALGORITHMS))
def test_an_hs_secret_has_the_hash_size_e005_asks_for_and_stays_out_of_stdout(
    algorithm: str, tmp_path: Path, tokenauth_settings: Any
) -> None:
    stdout, stderr = _run("generate", algorithm, "--out", str(tmp_path))
    settings, entry = _pasted(stdout)
    kid = settings["SIGNING_KEY_ID"]
    secret_file = tmp_path / f"{kid}.secret"
    secret = secret_file.read_text()

    assert sorted(tmp_path.iterdir()) == [secret_file]
    assert _mode(secret_file) == 0o600
    assert settings["SIGNING_KEY"] == secret == entry["key"]
    assert secret not in stdout + stderr
    # RFC 7518 §3.2: as many random bytes as the hash's output, and as many characters.
    size = HMAC_ALGORITHMS[algorithm]
    assert len(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))) == size
    assert len(secret.encode()) >= size
    assert kid == _thumbprint(algorithm, secret)
    tokenauth_settings(**settings)
    assert check_settings() == []
    assert _pasted(_run("generate", algorithm, "--out", str(tmp_path))[0])[0] != settings


def test_an_hs_secret_file_with_a_trailing_newline_is_the_same_key(
    tmp_path: Path, tokenauth_settings: Any, login: Any, user: Any, client: Client
) -> None:
    snippet, _ = _run("generate", "HS256", "--out", str(tmp_path))
    tokenauth_settings(**_pasted(snippet)[0])
    access_token = login(user)["access_token"]

    (secret_file,) = tmp_path.iterdir()
    secret_file.write_text(secret_file.read_text() + "\n")  # an editor saved it
    tokenauth_settings(**_pasted(snippet)[0])

    assert _me(client, access_token).status_code == 200


@pytest.mark.parametrize("algorithm", ["ES256", "HS512"])
def test_without_out_stdout_holds_the_key_alone_and_nothing_is_written(
    algorithm: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tokenauth_settings: Any,
    login: Any,
    user: Any,
) -> None:
    monkeypatch.chdir(tmp_path)
    stdout, stderr = _run("generate", algorithm)

    assert list(tmp_path.iterdir()) == []
    assert "nowhere else" in stderr
    key = stdout.rstrip("\n")
    if algorithm in HMAC_ALGORITHMS:
        assert len(key.encode()) == len(stdout) - 1 >= HMAC_ALGORITHMS[algorithm]
    else:
        assert serialization.load_pem_private_key(stdout.encode(), password=None)
        assert stdout.startswith("-----BEGIN PRIVATE KEY-----\n")
        assert stdout.endswith("-----END PRIVATE KEY-----\n")
    assert key not in stderr
    monkeypatch.setenv("TOKENAUTH_SIGNING_KEY", stdout)  # piped, newline and all
    settings, entry = _pasted(stderr[stderr.index("import os") :])
    tokenauth_settings(**settings)
    header = jwt.get_unverified_header(login(user)["access_token"])
    assert header["kid"] == settings["SIGNING_KEY_ID"] == entry["kid"]


def test_a_rotation_as_the_snippets_say_keeps_old_tokens_and_publishes_both_keys(
    tmp_path: Path, tokenauth_settings: Any, login: Any, user: Any, client: Client
) -> None:
    old_settings, old_entry = _pasted(_run("generate", "RS256", "--out", str(tmp_path))[0])
    new_settings, new_entry = _pasted(_run("generate", "EdDSA", "--out", str(tmp_path))[0])
    tokenauth_settings(**old_settings)
    old_token = login(user)["access_token"]

    # Step 1: publish the new key while the old one still signs.
    tokenauth_settings(VERIFYING_KEYS=[new_entry])
    kids = [jwk["kid"] for jwk in client.get("/auth/jwks.json").json()["keys"]]
    assert sorted(kids) == sorted([old_entry["kid"], new_entry["kid"]])
    # Step 2: sign with the new key, the old one still verifies.
    tokenauth_settings(**new_settings, VERIFYING_KEYS=[old_entry])
    new_token = login(user)["access_token"]

    assert jwt.get_unverified_header(new_token)["kid"] == new_entry["kid"]
    assert _me(client, old_token).status_code == 200
    assert _me(client, new_token).status_code == 200
    stdout, _ = _run("jwks")
    assert json.loads(stdout) == client.get("/auth/jwks.json").json()
    assert len(json.loads(stdout)["keys"]) == 2
    assert stdout.startswith('{\n  "keys": [\n')  # pretty-printed


def test_jwks_of_an_hs_setup_is_empty_and_says_why(client: Client) -> None:
    stdout, stderr = _run("jwks")

    assert json.loads(stdout) == client.get("/auth/jwks.json").json() == {"keys": []}
    assert "never published" in stderr


def test_jwks_with_a_broken_setting_is_a_command_error(tokenauth_settings: Any) -> None:
    tokenauth_settings(ALGORITHM="ES256")  # no SIGNING_KEY

    with pytest.raises(CommandError, match=r"tokenauth\.E004"):
        _run("jwks")


def test_generate_runs_while_the_checks_refuse_the_settings(
    tmp_path: Path, tokenauth_settings: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # The missing key is why one runs generate: the system checks, which run from the command
    # line (not under call_command), must not stop it.
    tokenauth_settings(ALGORITHM="ES256")

    execute_from_command_line(
        ["manage.py", "tokenauth_keys", "generate", "ES256", "--out", str(tmp_path)]
    )

    assert _pasted(capsys.readouterr().out)[0]["ALGORITHM"] == "ES256"


@pytest.mark.parametrize("algorithm", ["RSA", "rs256", "none", "HS128", "ES512", ""])
def test_an_unknown_algorithm_lists_the_supported_ones(algorithm: str, tmp_path: Path) -> None:
    out = tmp_path / "keys"

    with pytest.raises(CommandError) as raised:
        _run("generate", algorithm, "--out", str(out))

    assert str(raised.value) == (
        f"Unknown algorithm {algorithm!r}; supported: "
        "ES256, ES384, EdDSA, HS256, HS384, HS512, PS256, RS256, RS384, RS512."
    )
    assert not out.exists()


def test_a_subcommand_is_required() -> None:
    with pytest.raises(CommandError, match="subcommand"):
        _run()


def test_an_out_that_is_a_file_is_a_command_error(tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")

    for out in (a_file, a_file / "keys"):
        with pytest.raises(CommandError, match=r"^Cannot use --out '.*notes\.txt.*': "):
            _run("generate", "ES256", "--out", str(out))

    assert a_file.read_text() == "mine"
    assert list(tmp_path.iterdir()) == [a_file]


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "kid.private.pem"
    write_new_files([(target, "first", 0o600)])

    with pytest.raises(CommandError, match=r"^Refusing to overwrite .*kid\.private\.pem\.$"):
        write_new_files([(target, "second", 0o644)])

    assert target.read_text() == "first"
    assert _mode(target) == 0o600


def test_a_symlink_is_never_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (tmp_path / "kid.private.pem").symlink_to(elsewhere)  # dangling: a planted trap

    with pytest.raises(CommandError, match="Refusing to overwrite"):
        write_new_files([(tmp_path / "kid.private.pem", "secret", 0o600)])

    assert not elsewhere.exists()


def test_a_failed_second_file_leaves_no_first_file(tmp_path: Path) -> None:
    private, public = tmp_path / "kid.private.pem", tmp_path / "kid.public.pem"
    public.write_text("someone else's")

    with pytest.raises(CommandError, match=r"^Refusing to overwrite .*kid\.public\.pem\.$"):
        write_new_files([(private, "secret", 0o600), (public, "public", 0o644)])
    assert not private.exists()
    assert public.read_text() == "someone else's"

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with pytest.raises(CommandError, match=r"^Cannot write .*a-file/kid.public.pem: "):
        write_new_files([(private, "secret", 0o600), (blocked / "kid.public.pem", "p", 0o644)])
    assert not private.exists()
