"""Error pages (DEBUG's technical 500) and error mails (``mail_admins``) without provider keys.

Django hides what ``sensitive_variables``/``sensitive_post_parameters`` mark only with DEBUG
off; with DEBUG on the technical 500 page shows every local of every frame, so a crash in a
key view showed the decrypted key. Here:

- ``KeySafeReporterFilter`` is always active (DEBUG or not), and on top of the decorators
  it shows every other frame variable and POST value with keys redacted
  (``config.logging.redact``: keys this process handled, by value; every provider's key
  shape), so a frame nobody decorated (the router's, say) shows no key either;
- ``KeySafeExceptionReporter`` redacts the rendered page and mail text as a last step (the
  exception's own message, GET parameters, anything else quoted on them).

Selected by ``DEFAULT_EXCEPTION_REPORTER`` and ``DEFAULT_EXCEPTION_REPORTER_FILTER``.
"""

from __future__ import annotations

from pprint import pformat

from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from config.logging import redact


class _Shown:
    """A frame variable shown by its redacted repr (the page prints ``repr`` of values)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _redacted(value, substitute: str):
    if isinstance(value, str) and value == substitute:
        return value
    try:
        shown = value if isinstance(value, str) else pformat(value)
    except Exception:  # the page says "Error in formatting" for it as it would anyway
        return value
    cleaned = redact(shown)
    if cleaned == shown:
        return value
    return cleaned if isinstance(value, str) else _Shown(cleaned)


class KeySafeReporterFilter(SafeExceptionReporterFilter):
    def is_active(self, request) -> bool:
        return True

    def get_traceback_frame_variables(self, request, tb_frame):
        return [
            (name, _redacted(value, self.cleansed_substitute))
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]

    def get_post_parameters(self, request):
        parameters = super().get_post_parameters(request)
        if not parameters:
            return parameters
        cleaned = parameters.copy()
        for name in cleaned:
            cleaned.setlist(
                name,
                [_redacted(v, self.cleansed_substitute) for v in parameters.getlist(name)],
            )
        return cleaned


class KeySafeExceptionReporter(ExceptionReporter):
    def get_traceback_html(self):
        return redact(super().get_traceback_html())

    def get_traceback_text(self):
        return redact(super().get_traceback_text())
