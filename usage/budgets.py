"""Tenant budgets: windows in the tenant's time zone, worst-case reservations that hold
under any number of processes and threads, settlement to the actual cost, and alerts.

The books
    Each budget window is a ``BudgetWindow`` row (what was spent, settled) and one
    ``BudgetHold`` row per process (what that process holds reserved). A request is
    admitted against a window only while ``spent + every live hold`` is below the limit,
    and its worst-case cost joins its process's hold before it is sent, so the admitted
    spend never passes the limit by more than one request's worst case: every admission
    sees all the others' worst cases, in whichever process they run.

Leases (the speed of it: ``bench/router_overhead.py --budget``, issue 12's < 0.1 ms)
    Far from the limit a process reserves more than the request needs, at most 1/16 of the
    room left (``HEADROOM_SHARE``) and 64 worst cases, for ``USAGE_BUDGET_LEASE_SECONDS``.
    Requests then reserve from that spare in memory. The spare is part of the hold row, so
    the bound above holds as it is; a lease costs accuracy only in the safe direction (a
    window looks a little fuller than it is). Near the limit there is no lease: each
    request takes its own worst case in the row, and settles it at once.

Settling
    After a call its worst case leaves the hold and its actual cost joins ``spent``, in one
    transaction (from the caller near the limit; otherwise from the settler thread within
    ``USAGE_BUDGET_LEASE_SECONDS``, or at exit). A failed or cancelled call settles to what
    it cost (0 when nothing was billed), releasing the rest.

Crashes
    A process renews its hold rows while it runs; a hold not renewed for
    ``USAGE_BUDGET_HOLD_SECONDS`` (its process was killed) stops counting and is removed by
    the next admission, so a dead process never blocks a tenant for longer than that.

Alerts
    When a write moves ``spent`` past a threshold, a ``BudgetAlert`` row is inserted; its
    unique (window, threshold) makes it fire exactly once per window, whichever process
    gets there first. Delivery (admin, email, webhook) reads those rows
    (usage/budget_alerts.py).

Database access goes through ``runner`` (routing sets its bounded, self-healing
``llm_routing.dbguard.call``); this module imports no other app's code.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import threading
import time
import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Sum

logger = logging.getLogger("usage.budgets")

PERIODS = ("day", "month")
HEADROOM_SHARE = 16
LEASE_WORST_CASES = 64


def hold_seconds() -> float:
    return float(getattr(settings, "USAGE_BUDGET_HOLD_SECONDS", 60.0))


def lease_seconds() -> float:
    return float(getattr(settings, "USAGE_BUDGET_LEASE_SECONDS", 0.5))


# --- what a budget is, as routing sees it ---------------------------------------------------


def parse_thresholds(value: str) -> tuple[int, ...]:
    """"50,80,100" as (50, 80, 100); ValidationError for anything else."""
    parts = [p.strip() for p in str(value).split(",") if p.strip()]
    if not parts:
        raise ValidationError("Give at least one threshold, e.g. 50,80,100.", code="empty")
    if len(parts) > 10:
        raise ValidationError("At most 10 thresholds.", code="too_many")
    found = set()
    for part in parts:
        if not part.isdigit() or not 1 <= int(part) <= 1000:
            raise ValidationError(
                "Each threshold is a whole percent from 1 to 1000 (%(value)s is not).",
                code="bad_threshold",
                params={"value": part[:20]},
            )
        found.add(int(part))
    return tuple(sorted(found))


@dataclass(frozen=True)
class Rule:
    """One budget of a tenant, as the routing view caches it."""

    period: str  # "day" or "month"
    limit_pusd: int
    hard: bool
    thresholds: tuple[int, ...]


def rules_for(tenant_id: Any) -> tuple[Rule, ...]:
    """The tenant's budgets (a query; the routing view caches the answer)."""
    from usage.models import Budget

    return tuple(
        Rule(
            b.period, b.limit_pusd, b.mode == Budget.Mode.HARD,
            parse_thresholds(b.alert_thresholds),
        )
        for b in Budget.objects.filter(tenant_id=tenant_id).order_by("period")
    )


def window_bounds(period: str, tz_name: str, at: datetime) -> tuple[datetime, datetime]:
    """The UTC bounds of the day or month containing ``at`` in the zone ``tz_name``: from
    local midnight (the 1st's, for a month) to the next one. A DST day is 23 or 25 hours."""
    try:
        tz = zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo("UTC")
    local = at.astimezone(tz)
    if period == "day":
        start = local.date()
        end = start + timedelta(days=1)
    elif period == "month":
        start = local.date().replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"not a budget period: {period!r}")

    def midnight(day) -> datetime:
        # Local midnight as an instant: wall-clock midnight in the zone (fold=0 picks the
        # first of two, and a midnight that does not exist moves forward with the clock).
        wall = datetime(day.year, day.month, day.day, tzinfo=tz)
        return wall.astimezone(UTC)

    return midnight(start), midnight(end)


# --- the process's books ----------------------------------------------------------------------


@dataclass
class Refusal:
    """A hard budget would be passed: what to tell the caller."""

    period: str
    limit_pusd: int
    spent_pusd: int
    reserved_pusd: int
    resets_at: datetime


@dataclass(eq=False)
class _Book:
    """What this process holds in one window, and what it owes the window's rows."""

    tenant_id: Any
    rule: Rule
    window_id: int
    starts_at: datetime
    ends_at: datetime
    held: int = 0  # the amount our hold row says (as last written)
    spare: int = 0  # of ``held``, free for new calls until ``lease_expires``
    lease_expires: float = 0.0  # time.monotonic()
    inflight: int = 0  # of ``held``, worst cases of calls not settled yet
    spent_owed: int = 0  # settled costs not written to the window yet
    estimated_owed: int = 0
    release_owed: int = 0  # to take off the hold row at the next write
    tight: bool = True  # near the limit: settle writes at once
    renewed: float = 0.0  # time.monotonic() of the last write of the hold row
    fired: set[int] = field(default_factory=set)  # thresholds known to have fired
    io: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def owes(self, now: float) -> bool:
        return bool(
            self.spent_owed or self.estimated_owed or self.release_owed
            or (self.spare and now >= self.lease_expires)
        )


@dataclass
class Ticket:
    """The reservation of one call: (book, worst case) per budget of the tenant."""

    parts: list[tuple[_Book, int]]
    settled: bool = False

    @property
    def worst(self) -> int:
        """The worst case reserved (the same in every budget of the tenant)."""
        return max((amount for _, amount in self.parts), default=0)


Runner = Callable[..., Any]


def _direct(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


runner: Runner = _direct
"""How this module runs its database work: ``runner(what, fn, *args)``. Routing installs
its bounded, self-healing guard (llm_routing.dbguard.call), which raises its own
StateUnavailable for any database failure."""

_lock = threading.Lock()
_books: dict[tuple[Any, str], _Book] = {}
_retired: list[_Book] = []
_holder = ""
_settler: threading.Thread | None = None
_wake = threading.Event()


def _new_holder() -> str:
    return f"{socket.gethostname()[:16]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _after_fork() -> None:
    global _holder, _settler, _lock
    _lock = threading.Lock()
    _books.clear()
    _retired.clear()
    _holder = _new_holder()
    _settler = None


_holder = _new_holder()
os.register_at_fork(after_in_child=_after_fork)


def holder() -> str:
    """This process's name on its hold rows."""
    return _holder


# --- database steps (each one transaction, run through ``runner``) ------------------------------


def _window(tenant_id: Any, period: str, starts_at: datetime, ends_at: datetime) -> int:
    from usage.models import BudgetWindow

    found = BudgetWindow.objects.filter(
        tenant_id=tenant_id, period=period, starts_at=starts_at
    ).values_list("pk", flat=True).first()
    if found is not None:
        return found
    BudgetWindow.objects.bulk_create(
        [BudgetWindow(tenant_id=tenant_id, period=period, starts_at=starts_at, ends_at=ends_at)],
        ignore_conflicts=True,
    )
    return BudgetWindow.objects.get(tenant_id=tenant_id, period=period, starts_at=starts_at).pk


def _write(book: _Book, snap: dict[str, int], grant: int | None, worst: int) -> dict[str, Any]:
    """One transaction on the window: write what ``snap`` owes, and with ``grant`` not None
    decide an admission of ``worst``: returns the new hold amount, the lease granted (or
    None: refused), the window's figures, and thresholds fired."""
    from usage.models import BudgetAlert, BudgetHold, BudgetWindow

    now = datetime.now(UTC)
    with transaction.atomic():
        # The UPDATE takes the window row's lock first: every admission and write of this
        # window runs one at a time, so each sees all holds as they are.
        if not BudgetWindow.objects.filter(pk=book.window_id).update(
            spent_pusd=F("spent_pusd") + snap["spent"],
            estimated_pusd=F("estimated_pusd") + snap["estimated"],
        ):
            return {"gone": True}  # its tenant was deleted: nothing left to keep
        spent = BudgetWindow.objects.filter(pk=book.window_id).values_list(
            "spent_pusd", flat=True
        ).get()
        own = snap["held"] - snap["release"] - snap["spare"]  # worst cases still in flight
        lease = 0
        others = 0
        if grant is not None:
            cutoff = now - timedelta(seconds=hold_seconds())
            BudgetHold.objects.filter(window_id=book.window_id, renewed_at__lt=cutoff).exclude(
                holder=_holder
            ).delete()
            others = BudgetHold.objects.filter(window_id=book.window_id).exclude(
                holder=_holder
            ).aggregate(total=Sum("amount_pusd"))["total"] or 0
            room = book.rule.limit_pusd - spent - others - own
            leases = lease_seconds() > 0
            if not book.rule.hard:
                lease = worst * LEASE_WORST_CASES if leases else 0
            elif room >= worst:
                lease = min((room - worst) // HEADROOM_SHARE, worst * LEASE_WORST_CASES)
                lease = lease if leases else 0
            elif room > 0:
                lease = 0  # near the limit: this request's worst case only
            else:
                BudgetWindow.objects.filter(pk=book.window_id).update(refused=F("refused") + 1)
                lease = None
            if lease is not None:
                own += worst + lease
        amount = max(own, 0)
        updated = BudgetHold.objects.filter(window_id=book.window_id, holder=_holder).update(
            amount_pusd=amount, renewed_at=now
        )
        if not updated:
            BudgetHold.objects.create(
                window_id=book.window_id, holder=_holder, amount_pusd=amount, renewed_at=now
            )
        fired = []
        limit = book.rule.limit_pusd
        reached = [
            t for t in book.rule.thresholds
            if t not in book.fired and spent > 0 and spent * 100 >= t * limit
        ]
        if reached:
            new = [
                BudgetAlert(
                    window_id=book.window_id, tenant_id=book.tenant_id, threshold=t,
                    fired_at=now, spent_pusd=spent, limit_pusd=limit,
                    mode="hard" if book.rule.hard else "soft",
                )
                for t in reached
            ]
            before = set(
                BudgetAlert.objects.filter(window_id=book.window_id).values_list(
                    "threshold", flat=True
                )
            )
            BudgetAlert.objects.bulk_create(new, ignore_conflicts=True)
            fired = [t for t in reached if t not in before]
    return {
        "amount": amount,
        "lease": None if grant is not None and lease is None else lease,
        "spent": spent,
        "reserved": others + amount,
        "reached": reached,
        "fired": fired,
    }


def _snapshot(book: _Book, *, take_spare: bool) -> dict[str, int]:
    """What a write will settle (taken under ``_lock``). ``take_spare``: the lease's spare
    goes back too (an admission decides afresh, or the lease has expired)."""
    snap = {
        "held": book.held,
        "spent": book.spent_owed,
        "estimated": book.estimated_owed,
        "release": book.release_owed,
        "spare": book.spare if take_spare else 0,
    }
    if take_spare:
        book.spare = 0
    return snap


def _apply(book: _Book, snap: dict[str, int], result: dict[str, Any]) -> None:
    """After a committed write: what it settled is no longer owed (under ``_lock``)."""
    book.spent_owed -= snap["spent"]
    book.estimated_owed -= snap["estimated"]
    book.release_owed -= snap["release"]
    book.held = result["amount"]  # writes run one at a time (``io``): nothing moved it since
    book.renewed = time.monotonic()
    book.fired.update(result["reached"])


def _run_write(
    what: str, book: _Book, snap: dict[str, int], grant: bool | None, worst: int
) -> dict[str, Any] | None:
    """``_write`` through ``runner``; None when the window row is gone (its tenant was
    deleted: the book is dropped). A write that fails gives back the spare it took (owed
    amounts stay owed) and raises."""
    try:
        result = runner(what, _write, book, snap, grant, worst)
    except BaseException:
        with _lock:
            book.spare += snap["spare"]
        raise
    if result.get("gone"):
        _drop(book)
        return None
    return result


# --- reserve, settle, flush -------------------------------------------------------------------


def _book_for(tenant_id: Any, tz_name: str, rule: Rule, now: datetime) -> _Book:
    key = (tenant_id, rule.period)
    book = _books.get(key)
    if book is not None and book.starts_at <= now < book.ends_at and book.rule == rule:
        return book
    starts_at, ends_at = window_bounds(rule.period, tz_name, now)
    if book is not None and book.starts_at == starts_at:
        book.rule = rule  # the budget changed: same window, new limit
        return book
    window_id = runner(
        "opening a budget window", _window, tenant_id, rule.period, starts_at, ends_at
    )
    fresh = _Book(tenant_id, rule, window_id, starts_at, ends_at)
    with _lock:
        old = _books.get(key)
        if old is not None and old.starts_at == starts_at:
            return old
        if old is not None:
            _retired.append(old)
        _books[key] = fresh
    return fresh


def reserve_local(
    tenant_id: Any, rules: tuple[Rule, ...], worst: int, now: datetime
) -> Ticket | None:
    """Reserve ``worst`` pico-dollars from the leases this process holds, or None when one
    of the tenant's budgets has no live lease that covers it (then call ``reserve``).
    Never touches the database: the per-request path far from every limit."""
    mono = time.monotonic()
    parts = []
    with _lock:
        for rule in rules:
            book = _books.get((tenant_id, rule.period))
            if (
                book is None or book.rule != rule or not book.starts_at <= now < book.ends_at
                or book.spare < worst or mono >= book.lease_expires
            ):
                for taken, amount in parts:
                    taken.spare += amount
                    taken.inflight -= amount
                return None
            book.spare -= worst
            book.inflight += worst
            parts.append((book, worst))
    return Ticket(parts)


def reserve(
    tenant_id: Any, tz_name: str, rules: tuple[Rule, ...], worst: int, now: datetime
) -> Ticket | Refusal:
    """Reserve ``worst`` pico-dollars in every budget of the tenant, or the Refusal of the
    first hard budget that is spent. May write to the database (through ``runner``)."""
    _ensure_settler()
    parts: list[tuple[_Book, int]] = []
    for rule in rules:
        book = _book_for(tenant_id, tz_name, rule, now)
        refusal = _admit(book, worst)
        if refusal is not None:
            release(Ticket(parts))
            return refusal
        parts.append((book, worst))
    return Ticket(parts)


def _admit(book: _Book, worst: int) -> Refusal | None:
    with book.io:
        with _lock:
            if book.spare >= worst and time.monotonic() < book.lease_expires:
                book.spare -= worst  # another thread's admission took a lease meanwhile
                book.inflight += worst
                return None
            snap = _snapshot(book, take_spare=True)
        result = _run_write("reserving from a budget", book, snap, True, worst)
        if result is None:
            return None
        with _lock:
            _apply(book, snap, result)
            if result["lease"] is None:
                return Refusal(
                    book.rule.period, book.rule.limit_pusd, result["spent"],
                    result["reserved"], book.ends_at,
                )
            book.inflight += worst
            book.spare += result["lease"]
            book.lease_expires = time.monotonic() + lease_seconds()
            book.tight = result["lease"] < worst
        if result["fired"]:
            _alerted()
    return None


def settle(ticket: Ticket, actual: int, *, estimated: bool = False) -> bool:
    """The call of ``ticket`` cost ``actual`` pico-dollars (0: nothing billed; ``estimated``:
    an estimate, for a model without a price). Its worst case leaves the hold. Returns True
    when a budget is near its limit and should be written now (``write_now``)."""
    if ticket.settled:
        return False
    ticket.settled = True
    tight = False
    mono = time.monotonic()
    with _lock:
        for book, worst in ticket.parts:
            book.inflight -= worst
            book.spent_owed += actual
            if estimated:
                book.estimated_owed += actual
            if mono < book.lease_expires and not book.tight:
                # What it cost moves from the hold to ``spent``; the rest of its worst case
                # stays in the lease for the next call.
                used = min(actual, worst)
                book.release_owed += used
                book.spare += worst - used
            else:
                book.release_owed += worst
            tight = tight or book.tight
    return tight


def release(ticket: Ticket) -> None:
    """The call of ``ticket`` was never sent, or cost nothing: give its worst case back."""
    settle(ticket, 0)


def write_now(ticket: Ticket) -> None:
    """Write the books of ``ticket`` now (through ``runner``): near a limit, so that the
    next admission anywhere sees this call's cost at once."""
    for book, _ in ticket.parts:
        _flush_book(book)


def _flush_book(book: _Book, *, renew: bool = False, final: bool = False) -> None:
    """Write what ``book`` owes its window; ``final``: its lease goes back too, live or not."""
    mono = time.monotonic()
    with book.io:
        with _lock:
            if not book.owes(mono) and not (renew and book.held) and not (final and book.spare):
                return
            snap = _snapshot(book, take_spare=final or mono >= book.lease_expires)
        result = _run_write("settling a budget", book, snap, None, 0)
        if result is None:
            return
        with _lock:
            _apply(book, snap, result)
    if result["fired"]:
        _alerted()


def _drop(book: _Book) -> None:
    """Forget a book whose window row is gone (its tenant was deleted)."""
    with _lock:
        if _books.get((book.tenant_id, book.rule.period)) is book:
            del _books[(book.tenant_id, book.rule.period)]
        if book in _retired:
            _retired.remove(book)


def flush() -> None:
    """Write everything this process owes every window and give its leases back (tests,
    commands, exit)."""
    with _lock:
        books = [*_books.values(), *_retired]
    for book in books:
        _flush_book(book, final=True)
    with _lock:
        _retired[:] = [b for b in _retired if b.held or b.inflight or b.owes(time.monotonic())]


def forget() -> None:
    """Drop this process's books without writing them (tests)."""
    with _lock:
        _books.clear()
        _retired.clear()


# --- the settler thread ---------------------------------------------------------------------


def _settle_loop() -> None:
    from django.db import connection

    while True:
        _wake.wait(max(lease_seconds(), 0.1))
        _wake.clear()
        mono = time.monotonic()
        with _lock:
            books = [*_books.values(), *_retired]
        renew_every = hold_seconds() / 4
        busy = False
        for book in books:
            renew = book.held > 0 and mono - book.renewed >= renew_every
            if not (renew or book.owes(mono)):
                continue
            busy = True
            try:
                _flush_book(book, renew=renew)
            except Exception as exc:  # noqa: BLE001 - owed amounts stay owed; next round
                logger.warning("budget window %s not settled yet: %s", book.window_id, exc)
        with _lock:
            _retired[:] = [b for b in _retired if b.held or b.inflight or b.owes(time.monotonic())]
        if not busy and connection.connection is not None:
            connection.close()  # idle: hold no database connection


def _ensure_settler() -> None:
    global _settler
    if _settler is not None and _settler.is_alive():
        return
    with _lock:
        if _settler is None or not _settler.is_alive():
            _settler = threading.Thread(target=_settle_loop, name="budget-settler", daemon=True)
            _settler.start()


@atexit.register
def _at_exit() -> None:
    try:
        flush()
    except Exception as exc:  # noqa: BLE001 - the holds expire by themselves
        logger.warning("budget holds not released at exit: %s", exc)


def _alerted() -> None:
    """A threshold fired: deliver its alerts off the caller's path."""
    try:
        from usage import budget_alerts
    except ImportError:  # delivery not installed
        return
    budget_alerts.deliver_soon()
