"""The outcome of one attempt, as the ledger stores it: the one status vocabulary.

Defined here, once, and imported everywhere else: the ledger's rows and summaries
(``usage``), routing's outcome names (``llm_routing.outcomes`` re-exports the names below),
the dashboard's series and tables. A leaf module (Django's enums only), so every app can
import it without a cycle.

Adding a status is one line in ``Status``, one in ``COUNT_FIELD`` and one in ``WORDS``,
plus a ``SummaryFigures`` count column and its migration; the import-time check below
refuses a status missing from either mapping.
"""

from __future__ import annotations

from django.db.models import IntegerChoices


class Status(IntegerChoices):
    """Code (stored as a smallint) and name of each outcome."""

    SUCCESS = 1, "success"
    RATE_LIMITED = 2, "rate_limited"  # HTTP 429
    TIMEOUT = 3, "timeout"
    ERROR = 4, "error"  # other transient failures: 5xx, connection, malformed answers
    AUTH_ERROR = 5, "auth_error"  # 401/403: the key
    INVALID_REQUEST = 6, "invalid_request"  # other 4xx: the request itself
    CANCELLED = 7, "cancelled"  # the caller left a stream before its end
    BUDGET_EXCEEDED = 8, "budget_exceeded"  # refused before the call: a hard budget is spent


# The names as plain strings: routing's outcomes and ``usage.track(status=...)`` use these.
SUCCESS: str = Status.SUCCESS.label
RATE_LIMITED: str = Status.RATE_LIMITED.label
TIMEOUT: str = Status.TIMEOUT.label
ERROR: str = Status.ERROR.label
AUTH_ERROR: str = Status.AUTH_ERROR.label
INVALID_REQUEST: str = Status.INVALID_REQUEST.label
CANCELLED: str = Status.CANCELLED.label
BUDGET_EXCEEDED: str = Status.BUDGET_EXCEEDED.label

CODES: dict[str, int] = {label: value for value, label in Status.choices}
"""Status name -> stored code."""

COUNT_FIELD: dict[Status, str] = {
    Status.SUCCESS: "successes",
    Status.RATE_LIMITED: "rate_limited",
    Status.TIMEOUT: "timeouts",
    Status.ERROR: "errors",
    Status.AUTH_ERROR: "auth_errors",
    Status.INVALID_REQUEST: "invalid_requests",
    Status.CANCELLED: "cancelled",
    Status.BUDGET_EXCEEDED: "budget_refused",
}
"""The summaries' count column (and the selectors' figure) for each status."""

WORDS: dict[Status, str] = {
    Status.SUCCESS: "Success",
    Status.RATE_LIMITED: "Rate limited (429)",
    Status.TIMEOUT: "Timeout",
    Status.ERROR: "Provider error",
    Status.AUTH_ERROR: "Bad key (401/403)",
    Status.INVALID_REQUEST: "Invalid request",
    Status.CANCELLED: "Cancelled by the caller",
    Status.BUDGET_EXCEEDED: "Refused: budget spent",
}
"""What an operator reads for each status (dashboard series and tables)."""

NOT_FAILED: frozenset[Status] = frozenset(
    {Status.SUCCESS, Status.CANCELLED, Status.BUDGET_EXCEEDED}
)
"""Outcomes that are no failure: a cancelled stream was the caller's choice, and its
provider answered; a budget refusal is the tenant's own limit, no provider was called."""

if set(COUNT_FIELD) != set(Status) or set(WORDS) != set(Status):
    raise ImportError("usage.statuses: every Status needs a COUNT_FIELD and WORDS entry")
