"""Provider keys at rest: Fernet through MultiFernet, each ciphertext bound to its slot.

``FIELD_ENCRYPTION_KEYS`` lists Fernet keys newest first: the first encrypts, all decrypt
(the same loop as Django's ``SECRET_KEY_FALLBACKS``). The plaintext inside each ciphertext
names the tenant and provider it was written for, so a ciphertext copied into another
tenant's or another provider's slot is refused instead of handing out a foreign key.

Keys are built on first use, not at import, and rebuilt when the setting changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.views.decorators.debug import sensitive_variables

from tenants import live_keys

_FORMAT_VERSION = 1


class TokenDecryptionError(Exception):
    """A stored provider key could not be read. The message never contains key material."""


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def key_list_problems(keys: list[str]) -> list[str]:
    """Human-readable problems with a list of Fernet keys (empty when it is usable)."""
    if not keys:
        return ["FIELD_ENCRYPTION_KEYS is empty"]
    problems = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.strip().encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            problems.append(
                f"FIELD_ENCRYPTION_KEYS entry {position} is not a Fernet key "
                "(32 url-safe base64-encoded bytes)"
            )
    return problems


def _dev_key_from_file(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    # O_EXCL: two processes starting at once must not write two different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def configured_keys() -> list[str]:
    keys = [k.strip() for k in settings.FIELD_ENCRYPTION_KEYS if k.strip()]
    if not keys and settings.FIELD_ENCRYPTION_DEV_KEY_FILE:
        keys = [_dev_key_from_file(Path(settings.FIELD_ENCRYPTION_DEV_KEY_FILE))]
    return keys


def key_source() -> str:
    """Which keys decrypt, in words for messages: the FIELD_ENCRYPTION_KEYS list, or the
    development key file when that list is empty (and naming the list would mislead)."""
    dev_file = settings.FIELD_ENCRYPTION_DEV_KEY_FILE
    if any(k.strip() for k in settings.FIELD_ENCRYPTION_KEYS) or not dev_file:
        return "any key in FIELD_ENCRYPTION_KEYS"
    path = Path(dev_file)
    with contextlib.suppress(ValueError):
        path = path.resolve().relative_to(Path(settings.BASE_DIR).resolve())
    return f"the development key in {path} (FIELD_ENCRYPTION_KEYS is empty)"


@lru_cache(maxsize=1)
def _fernets() -> tuple[Fernet, MultiFernet]:
    keys = configured_keys()
    problems = key_list_problems(keys)
    if problems:
        raise ImproperlyConfigured(
            "; ".join(problems) + ". Run `python manage.py generate_encryption_key` and put "
            "the key first in FIELD_ENCRYPTION_KEYS."
        )
    fernets = [Fernet(k.encode("ascii")) for k in keys]
    return fernets[0], MultiFernet(fernets)


@receiver(setting_changed)
def _reset_keys(*, setting: str, **kwargs) -> None:
    if setting in ("FIELD_ENCRYPTION_KEYS", "FIELD_ENCRYPTION_DEV_KEY_FILE"):
        _fernets.cache_clear()


@sensitive_variables()
def encrypt_token(*, tenant_id, provider: str, token: str) -> str:
    live_keys.remember(token)
    payload = json.dumps(
        {"v": _FORMAT_VERSION, "t": str(tenant_id), "p": provider, "k": token},
        separators=(",", ":"),
    )
    return _fernets()[1].encrypt(payload.encode("utf-8")).decode("ascii")


@sensitive_variables()
def decrypt_token(*, tenant_id, provider: str, ciphertext: str) -> str:
    slot = f"the {provider} key of tenant {tenant_id}"
    try:
        raw = _fernets()[1].decrypt(str(ciphertext).encode("ascii"))
        payload = json.loads(raw)
    except (InvalidToken, UnicodeEncodeError, ValueError, TypeError):
        raise TokenDecryptionError(f"{slot} cannot be decrypted with {key_source()}") from None
    if (
        not isinstance(payload, dict)
        or payload.get("t") != str(tenant_id)
        or payload.get("p") != provider
        or not isinstance(payload.get("k"), str)
    ):
        raise TokenDecryptionError(
            f"{slot} holds a ciphertext written for another tenant or provider; "
            "it was copied, not saved here, and is refused"
        )
    live_keys.remember(payload["k"])
    return payload["k"]


def is_under_newest_key(ciphertext: str) -> bool:
    try:
        _fernets()[0].decrypt(str(ciphertext).encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        return False
    return True


def reencrypt_under_newest_key(ciphertext: str) -> str:
    """The same plaintext under the newest key. Raises TokenDecryptionError if unreadable."""
    try:
        return _fernets()[1].rotate(str(ciphertext).encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeEncodeError):
        raise TokenDecryptionError(
            f"a stored key cannot be decrypted with {key_source()}"
        ) from None


def fingerprint(token: str) -> str:
    """A short, one-way label for a key: enough to tell two keys apart, useless to guess one."""
    digest = hmac.new(
        b"llm-provider-key-fingerprint:" + settings.SECRET_KEY.encode("utf-8"),
        token.encode("utf-8"),
        hashlib.sha256,
    ).hexdigest()
    return f"fp-{digest[:10]}"
