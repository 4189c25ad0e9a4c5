"""A logging filter that scrubs anything shaped like a provider key from log records.

Code must never log a key in the first place; this filter is the last line of defence for
third-party messages (httpx, Django) that might echo a header or a URL.
"""

import logging
import re

# Groq, OpenRouter, generic "sk-" keys, and bearer headers of any shape.
_PATTERNS = [
    re.compile(r"gsk_[A-Za-z0-9]{20,}"),
    re.compile(r"sk-or-v1-[0-9a-fA-F]{16,}"),
    re.compile(r"sk-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"),
]


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "[redacted]", text)
    return text


class RedactProviderKeys(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
