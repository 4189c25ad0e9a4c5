"""Provider keys never reach a log line, whoever configured the logger or its handlers.

Code must never log a key in the first place; this is the last line of defence for what
third parties log (httpcore's DEBUG trace quotes response headers, so a provider that
echoes the key in ``WWW-Authenticate`` would put it there) and for exception texts.

What is redacted, by ``redact(text)``:
1. every key this process has handled (``tenants.live_keys``: encrypted, decrypted,
   validated or tested), by value, whatever its shape;
2. anything of a provider's key shape, derived from the provider registry
   (``llm_routing.providers``, extra providers included): each word of the text that a
   provider's key pattern matches whole. A pattern so loose that it matches ordinary log
   words (LLM7's "16 to 512 letters, digits or ._-+/=" matches ids and dotted names) only
   counts words that also look random (upper- and lower-case letters and digits);
3. keys named by their context: ``Bearer <x>``, ``token="<x>"``, ``api_key=<x>``, and the
   ``gsk_``/``sk-`` prefixes even when the rest is malformed.

How it covers every handler: ``install()`` (run by Django's logging setup through
``LOGGING_CONFIG = "config.logging.configure"``) sets a LogRecord factory, so every record
any logger makes, for any handler (root's, ``mail_admins``, pytest's, a handler someone adds
later) is redacted when it is made: its message (``msg``/``args`` replaced only when a key
was found, so message templates survive otherwise), its traceback text and stack. Filters
on loggers would miss records that child loggers (``httpcore.http11``) propagate, and
filters on handlers would miss handlers added later; the factory misses neither. The
``RedactProviderKeys`` filter is also put on every handler configured at setup, for records
made without the factory (``logging.makeLogRecord`` from a socket listener).
"""

from __future__ import annotations

import logging
import logging.config
import re

from tenants import live_keys

REDACTED = live_keys.REDACTED

# Context: whatever follows these is a secret, whatever its shape.
_CONTEXT = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=\-!*#$%^&|]{8,}"),
    re.compile(
        r"(?i)(\b(?:token|api[_-]?key|secret|password)[\"']?\s*[=:]\s*(?:b?[\"']|\\[\"'])?)"
        r"(?!\[redacted\])[^\s\"',;}&\\]{8,}"
    ),
    re.compile(r"()gsk_[A-Za-z0-9]{20,}"),
    re.compile(r"()sk-or-v1-[0-9a-fA-F]{16,}"),
    re.compile(r"()\bsk-[A-Za-z0-9_\-]{16,}"),
]
# The words of a text, for the shape check: runs between quotes, brackets, spaces and the
# like (a key of an odd shape with these inside is still found by value, point 1 above).
_WORD = re.compile(r"[^\s\"'`,;:()\[\]{}<>&?\\]{8,}")
# Words every log has plenty of; a key pattern that matches one of them is "loose".
_ORDINARY = (
    "0f8fad5b-d9cb-469f-a165-70867728950e",
    "0f8fad5bd9cb469fa16570867728950e",
    "llm_routing.screens.dashboard",
    "/api/tenants/0f8fad5b-d9cb-469f-a165-70867728950e/llm-tokens",
    "internationalization",
    "model_usage_stats_tenant_id",
)


def _looks_random(word: str) -> bool:
    return (
        len(word) >= 12
        and any(c.isdigit() for c in word)
        and any(c.isupper() for c in word)
        and any(c.islower() for c in word)
    )


_shapes_cache: tuple[tuple, list[tuple[re.Pattern, bool]]] = ((), [])


def _shapes() -> list[tuple[re.Pattern[str], bool]]:
    """(key pattern, loose) per provider, rebuilt when the registry changes."""
    global _shapes_cache
    try:
        from llm_routing import providers

        patterns = tuple(p.key_pattern for p in providers.all_providers())
    except Exception:  # an unusable LLM_EXTRA_PROVIDERS (system check E003 says so)
        patterns = ()
    if patterns != _shapes_cache[0]:
        shapes = [(p, any(p.fullmatch(w) for w in _ORDINARY)) for p in patterns]
        _shapes_cache = (patterns, shapes)
    return _shapes_cache[1]


def _is_key(word: str, shapes) -> bool:
    return any(p.fullmatch(word) and (not loose or _looks_random(word)) for p, loose in shapes)


def _redact_shapes(text: str) -> str:
    shapes = _shapes()

    def word(match: re.Match) -> str:
        found = match.group(0)
        if _is_key(found, shapes):
            return REDACTED
        if "=" in found:  # name=value
            return "=".join(REDACTED if _is_key(p, shapes) else p for p in found.split("="))
        return found

    return _WORD.sub(word, text)


def redact(text: str) -> str:
    """``text`` without provider keys: known ones by value, others by shape and context."""
    text = live_keys.redact(text)
    text = _redact_shapes(text)
    for pattern in _CONTEXT:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def redact_record(record: logging.LogRecord) -> None:
    """Redact a record in place: message, traceback text and stack. A record already
    redacted (by the factory) is skipped unless its message was set again since (as
    ``logging.makeLogRecord`` does after the factory)."""
    done = getattr(record, "_provider_keys_redacted", None)
    if done is not None and done[0] is record.msg and done[1] is record.args:
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: logging reports it when it is emitted
        return
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    record._provider_keys_redacted = (record.msg, record.args)
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        cleaned = redact(text)
        if cleaned != text:
            record.exc_text = cleaned
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactProviderKeys(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def _redacting_factory(previous):
    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            redact_record(record)
        except Exception:  # redaction must never stop a record, nor raise into the caller
            record.msg, record.args = "[a log record that could not be redacted]", None
        return record

    factory.redacts_provider_keys = True
    return factory


def install() -> None:
    """Redact every record from now on (idempotent); filter every configured handler."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "redacts_provider_keys", False):
        logging.setLogRecordFactory(_redacting_factory(current))
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if not any(isinstance(f, RedactProviderKeys) for f in handler.filters):
                handler.addFilter(RedactProviderKeys())


def configure(logging_settings: dict) -> None:
    """``settings.LOGGING_CONFIG``: Django's dictConfig, then the redaction."""
    logging.config.dictConfig(logging_settings)
    install()
