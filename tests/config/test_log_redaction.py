"""No provider key reaches a log record, whichever logger makes it and whichever handler
receives it (config/logging.py): keys of every provider's shape, derived from the provider
registry, and keys this process has handled, whatever their shape."""

import io
import logging

import pytest

from config.logging import RedactProviderKeys
from tenants import services
from tests.canaries import ODD_PROVIDER, assert_no_trace, canary_keys, odd_provider_spec

ALL_SHAPES = ("groq", "openrouter", "llm7", ODD_PROVIDER)


@pytest.fixture(autouse=True)
def _odd_provider(settings):
    settings.LLM_EXTRA_PROVIDERS = [odd_provider_spec("http://127.0.0.1:9/odd/v1")]


@pytest.fixture
def late_handler():
    """A handler someone adds to the root logger after the logging setup."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    yield stream
    logging.getLogger().removeHandler(handler)


@pytest.mark.parametrize("logger_name", ["httpcore.http11", "httpx", "django.request", "app"])
def test_keys_of_every_providers_shape_are_redacted_for_every_handler(
    caplog, late_handler, logger_name
):
    keys = canary_keys(*ALL_SHAPES)  # never seen by any code: found by their shape alone
    caplog.set_level(logging.DEBUG, logger=logger_name)
    logger = logging.getLogger(logger_name)
    logger.debug("headers %r", [(b"WWW-Authenticate", f'Bearer token="{keys["groq"]}"'.encode())])
    logger.warning("keys: %s", " ".join(f"{p}={k}" for p, k in keys.items()))
    logger.error("as json %s", {p: k for p, k in keys.items()})
    logger.info("in a url https://x.test/v1?api_key=%s&b=1", keys["llm7"])

    texts = [caplog.text, late_handler.getvalue(), repr([r.__dict__ for r in caplog.records])]
    assert caplog.text.count("[redacted]") >= 10
    for text in texts:
        assert_no_trace(text, keys.values())


def test_ordinary_log_words_are_left_alone(caplog):
    line = (
        "routing tenant=0f8fad5b-d9cb-469f-a165-70867728950e provider=groq attempt=2 "
        "outcome=auth_error fingerprint=fp-0123456789 "
        "/work/app/llm_routing/screens/dashboard.py:123 llm_routing.screens.dashboard "
        "request 0f8fad5bd9cb469fa16570867728950e model llama-3.3-70b-versatile "
        "deepseek/deepseek-r1 max_tokens=256"
    )
    caplog.set_level(logging.INFO)
    logging.getLogger("app").info(line)
    assert caplog.records[-1].getMessage() == line


def test_a_key_this_process_handled_is_redacted_whatever_its_shape(caplog):
    # All lower case: no shape rule can tell it from a word; it is known by value.
    key = "plainlowercasellm7keywithoutanydigits"
    assert services.token_format_problem("llm7", key) is None  # validated: remembered
    caplog.set_level(logging.DEBUG)
    logging.getLogger("app").debug("said %s and %r and <%s>", key, key.encode(), key)
    assert key not in caplog.text and key[5:20] not in caplog.text


def test_a_traceback_quoting_a_key_is_redacted(caplog):
    key = canary_keys(ODD_PROVIDER)[ODD_PROVIDER]
    caplog.set_level(logging.ERROR)
    try:
        raise ValueError(f"the provider said {key}")
    except ValueError:
        logging.getLogger("app").exception("failed")
    assert "ValueError: the provider said [redacted]" in caplog.text
    assert_no_trace(caplog.text, [key])


def test_every_record_and_every_configured_handler_is_covered():
    assert getattr(logging.getLogRecordFactory(), "redacts_provider_keys", False)
    handlers = logging.getLogger("django").handlers + logging.getLogger().handlers
    configured = [h for h in handlers if h.__class__.__module__.startswith("django")
                  or type(h) is logging.StreamHandler]
    assert any(type(h).__name__ == "AdminEmailHandler" for h in configured)
    for handler in configured:
        assert any(isinstance(f, RedactProviderKeys) for f in handler.filters), handler


def test_a_record_made_without_the_factory_is_redacted_by_the_handler_filter():
    key = canary_keys("groq")["groq"]
    record = logging.makeLogRecord({"msg": "got %s", "args": (key,)})
    RedactProviderKeys().filter(record)
    assert_no_trace(record.getMessage(), [key])
