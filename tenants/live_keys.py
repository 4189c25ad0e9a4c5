"""Provider keys this process has handled, so that redaction can find them by value.

Shapes find most keys (``config.logging`` derives them from the provider registry), but an
opaque key (LLM7's, an extra provider's) can look like any other word. So every key this
process encrypts, decrypts, validates or tests is remembered here and scrubbed, by value,
from every log record, error page and error mail, whatever its shape.

A leaf module (no Django models), imported by logging configuration as well as by the
code that handles keys. Only the ``MAX_KEYS`` most recently handled keys are kept, in
memory only: the process holds them anyway (its routing views cache decrypted keys).
Each key is also kept in the forms a log line or a page quotes it in (HTML-escaped, a
bytes repr, a JSON string), so a key with a quote or a backslash is found there too.
"""

from __future__ import annotations

import html
import json
import threading
from collections import OrderedDict

MAX_KEYS = 4096
# Shorter strings are no key of any provider, and would redact ordinary words.
MIN_LENGTH = 8
REDACTED = "[redacted]"

_lock = threading.Lock()
_keys: OrderedDict[str, None] = OrderedDict()
# The first MIN_LENGTH characters of every quoted form -> those forms, longest first.
_by_prefix: dict[str, tuple[str, ...]] = {}


def _forms(key: str) -> set[str]:
    quoted = {
        key,
        html.escape(key),
        key.replace("\\", "\\\\").replace("'", "\\'"),
        json.dumps(key)[1:-1],
    }
    return {form for form in quoted if len(form) >= MIN_LENGTH}


def _rebuild() -> None:
    index: dict[str, set[str]] = {}
    for key in _keys:
        for form in _forms(key):
            index.setdefault(form[:MIN_LENGTH], set()).add(form)
    global _by_prefix
    _by_prefix = {p: tuple(sorted(f, key=len, reverse=True)) for p, f in index.items()}


def remember(key: object) -> None:
    """Scrub ``key`` from now on (a no-op for anything shorter than MIN_LENGTH)."""
    if not isinstance(key, str) or len(key) < MIN_LENGTH:
        return
    with _lock:
        if key in _keys:
            _keys.move_to_end(key)
            return
        _keys[key] = None
        while len(_keys) > MAX_KEYS:
            _keys.popitem(last=False)
        _rebuild()


def redact(text: str) -> str:
    """``text`` with every remembered key (in any quoted form) replaced by [redacted]."""
    index = _by_prefix
    if not index or len(text) < MIN_LENGTH:
        return text
    out, start, i, last = [], 0, 0, len(text) - MIN_LENGTH
    while i <= last:
        for form in index.get(text[i : i + MIN_LENGTH], ()):
            if text.startswith(form, i):
                out += [text[start:i], REDACTED]
                i = start = i + len(form)
                break
        else:
            i += 1
    if not out:
        return text
    out.append(text[start:])
    return "".join(out)
