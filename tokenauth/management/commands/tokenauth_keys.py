"""``manage.py tokenauth_keys``: generate a signing key and its settings, or print the key set."""

from __future__ import annotations

import contextlib
import json
import os
import textwrap
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tokenauth import service
from tokenauth._key_generation import NewKey, generate_key
from tokenauth._key_settings import ALGORITHMS
from tokenauth.keys import KeyMaterialError

ENV_VAR = "TOKENAUTH_SIGNING_KEY"  # where the snippet reads a key printed to stdout
_SUPPORTED = ", ".join(sorted(ALGORITHMS))


class Command(BaseCommand):
    help = "Generate a new access-token signing key (generate), or print the key set (jwks)."
    # generate is how a missing or broken SIGNING_KEY (tokenauth.E004, E008) gets fixed.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        subcommands = parser.add_subparsers(dest="subcommand", required=True)
        generate = subcommands.add_parser(
            "generate", help="a new key for ALGORITHM and the TOKENAUTH settings that use it"
        )
        generate.add_argument("algorithm", metavar="ALGORITHM", help=f"one of {_SUPPORTED}")
        generate.add_argument(
            "--out",
            metavar="DIR",
            help="write <kid>.private.pem (0600) and <kid>.public.pem, or <kid>.secret (0600) "
            "for HS*, into DIR (created 0700 if missing); without it the key goes to stdout",
        )
        subcommands.add_parser("jwks", help="print the key set that jwks.json serves")

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        if subcommand == "jwks":
            self._jwks()
        else:
            self._generate(options["algorithm"], options["out"])

    def _jwks(self) -> None:
        try:
            key_set = service.public_key_set()
        except (ImproperlyConfigured, KeyMaterialError) as exc:  # neither names key material
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(key_set, indent=2))
        if not key_set["keys"]:
            self.stderr.write("The key set is empty: HS* secrets are never published.")

    def _generate(self, algorithm: str, out: str | None) -> None:
        if algorithm not in ALGORITHMS:
            raise CommandError(f"Unknown algorithm {algorithm!r}; supported: {_SUPPORTED}.")
        try:
            new_key = generate_key(algorithm)
        except KeyMaterialError as exc:
            raise CommandError(str(exc)) from exc
        if out is None:
            self._print_key(new_key)
        else:
            self._write_key(new_key, Path(out).resolve())

    def _print_key(self, new_key: NewKey) -> None:
        """stdout gets the key alone, so it can be piped into a secret store."""
        self.stdout.write(new_key.signing_key.rstrip("\n"))
        self.stderr.write(
            self.style.WARNING(
                f"The new {new_key.algorithm} key is on stdout and nowhere else: keep it in your "
                f"secret store, out of version control. --out DIR writes it to a 0600 file instead."
            )
        )
        source = _strip_secret(new_key, f"os.environ[{json.dumps(ENV_VAR)}]")
        public = source if new_key.public_pem is None else json.dumps(new_key.public_pem)
        self.stderr.write(
            f"# Settings to sign with it, the key in the environment variable {ENV_VAR}:\n"
            f"import os\n\n{_snippet(new_key, source, public)}"
        )

    def _write_key(self, new_key: NewKey, directory: Path) -> None:
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"Cannot use --out {str(directory)!r}: {exc.strerror}.") from exc
        if new_key.public_pem is None:
            secret = directory / f"{new_key.kid}.secret"
            write_new_files([(secret, new_key.signing_key, 0o600)])
            wrote = f"# Wrote {secret} (mode 0600: keep it secret, out of version control)."
            source = _strip_secret(new_key, f"Path({json.dumps(str(secret))}).read_text()")
            public = source
        else:
            private = directory / f"{new_key.kid}.private.pem"
            public_file = directory / f"{new_key.kid}.public.pem"
            write_new_files(
                [(private, new_key.signing_key, 0o600), (public_file, new_key.public_pem, 0o644)]
            )
            wrote = (
                f"# Wrote {private} (mode 0600: keep it secret, out of version control)\n"
                f"# and {public_file}."
            )
            source = f"Path({json.dumps(str(private))}).read_text()"
            public = f"Path({json.dumps(str(public_file))}).read_text()"
        self.stdout.write(
            f"{wrote}\n# Settings to sign with the new key:\n"
            f"from pathlib import Path\n\n{_snippet(new_key, source, public)}"
        )


def write_new_files(files: list[tuple[Path, str, int]]) -> None:
    """Create each ``(path, text, mode)``, never replacing a file or following a symlink.

    The mode is given to ``os.open``: a private key is never readable by others, not even
    between creation and a ``chmod``. On any failure no file made here is left behind; raises
    ``CommandError``.
    """
    created: list[Path] = []
    try:
        for path, text, mode in files:
            # O_EXCL: an existing file or symlink (dangling too) at path fails, never followed.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            created.append(path)
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(text)
    except BaseException as exc:
        for made in created:
            with contextlib.suppress(OSError):
                made.unlink()
        if isinstance(exc, FileExistsError):
            raise CommandError(f"Refusing to overwrite {path}.") from exc
        if isinstance(exc, OSError):
            raise CommandError(f"Cannot write {path}: {exc.strerror}.") from exc
        raise


def _strip_secret(new_key: NewKey, source: str) -> str:
    # An HMAC secret is its exact bytes: a newline an editor or `echo` adds must not count.
    return f"{source}.strip()" if new_key.public_pem is None else source


def _snippet(new_key: NewKey, signing_source: str, verifying_source: str) -> str:
    """The TOKENAUTH keys to paste, then the VERIFYING_KEYS entry that starts a rotation."""
    algorithm, kid = json.dumps(new_key.algorithm), json.dumps(new_key.kid)
    if new_key.public_pem is None:
        publish = "until every process (and every service sharing the secret) has it"
    else:
        publish = "and wait for jwks.json's max-age (5 minutes) so other services have it"
    rotation = (
        "Rotating keys: first deploy with this entry in VERIFYING_KEYS while the current key "
        f"still signs, {publish}; then switch to the settings above, keeping the old key in "
        "VERIFYING_KEYS (under the kid it signed with) for one ACCESS_TOKEN_LIFETIME plus LEEWAY."
    )
    return (
        "TOKENAUTH = {\n"
        "    # ...your other TOKENAUTH keys...\n"
        f'    "ALGORITHM": {algorithm},\n'
        f'    "SIGNING_KEY": {signing_source},\n'
        f'    "SIGNING_KEY_ID": {kid},\n'
        "}\n\n"
        f"{textwrap.fill(rotation, 79, initial_indent='# ', subsequent_indent='# ')}\n"
        f'    {{"kid": {kid}, "key": {verifying_source}, "algorithm": {algorithm}}},\n'
    )
