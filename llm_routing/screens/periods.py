"""The dashboard's period picker: 24 h, 7 d, 30 d or a custom range of local dates.

Periods are read in the tenant's time zone (UTC for the all-tenants view): a custom range
runs from local midnight of its first date to local midnight after its last. Buckets are
hours up to a week and local days beyond.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django import forms

from tenants.forms import RefuseUnsafeText

PRESETS = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7), "30d": dt.timedelta(days=30)}
DEFAULT = "24h"
MAX_CUSTOM_DAYS = 366
HOURLY_UP_TO = dt.timedelta(days=7)
# Custom dates must fall in this window. At the calendar's edges a range's bounds (local
# midnights in UTC, the day after the last date, the summary's whole days) overflow
# datetime: 0001-01-01 in UTC+14, 9999-12-31. No usage predates the epoch, and a year of
# margin at the far end keeps every step a day or a week past a bound inside the calendar.
FIRST_DATE = dt.date(1970, 1, 1)
LAST_DATE = dt.date(9998, 12, 31)


@dataclass(frozen=True)
class Period:
    key: str
    start: dt.datetime  # aware, inclusive
    end: dt.datetime  # aware, exclusive
    tz: zoneinfo.ZoneInfo
    bucket: str  # "hour" | "day"

    @property
    def label(self) -> str:
        last = self.end - dt.timedelta(microseconds=1)
        fmt = "%Y-%m-%d %H:%M" if self.bucket == "hour" else "%Y-%m-%d"
        return (
            f"{self.start.astimezone(self.tz).strftime(fmt)} – "
            f"{last.astimezone(self.tz).strftime(fmt)} ({self.tz.key})"
        )

    def buckets(self) -> list:
        """Every bucket, empty ones included: local hours (aware) or local dates.

        Hours step in UTC, so a DST change neither skips nor repeats one.
        """
        if self.bucket == "hour":
            count = int((self.end - self.start) / dt.timedelta(hours=1))
            return [(self.start + dt.timedelta(hours=i)).astimezone(self.tz) for i in range(count)]
        day = self.start.astimezone(self.tz).date()
        last = (self.end - dt.timedelta(microseconds=1)).astimezone(self.tz).date()
        days = []
        while day <= last:
            days.append(day)
            day += dt.timedelta(days=1)
        return days


class PeriodForm(RefuseUnsafeText, forms.Form):
    period = forms.ChoiceField(
        choices=[
            ("24h", "Last 24 hours"),
            ("7d", "Last 7 days"),
            ("30d", "Last 30 days"),
            ("custom", "Custom range"),
        ],
        required=False,
        widget=forms.RadioSelect,
    )
    start = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("period") != "custom" or self.errors:
            return cleaned
        start, end = cleaned.get("start"), cleaned.get("end")
        for name, day in (("start", start), ("end", end)):
            if day is not None and not FIRST_DATE <= day <= LAST_DATE:
                self.add_error(name, f"Choose a date from {FIRST_DATE} to {LAST_DATE}.")
                start = end = None if name == "start" else start
        if self.errors:
            return cleaned
        if start is None:
            self.add_error("start", "Choose the first day of the range.")
        if end is None:
            self.add_error("end", "Choose the last day of the range.")
        if start and end and end < start:
            self.add_error("end", "The last day comes before the first.")
        elif start and end and (end - start).days + 1 > MAX_CUSTOM_DAYS:
            self.add_error("end", f"A range covers at most {MAX_CUSTOM_DAYS} days.")
        return cleaned


def _hour_floor(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def period_from(form: PeriodForm, *, tz: zoneinfo.ZoneInfo, now: dt.datetime) -> Period:
    """The chosen period, or the default one when the form has errors (shown beside it).

    Bounds fall on whole UTC hours, the grain of the usage summary: "24 h" is the current
    hour and the 23 before it, "30 d" the last 30 local days including today.
    """
    choice = (form.cleaned_data.get("period") if form.is_valid() else None) or DEFAULT
    end = _hour_floor(now) + dt.timedelta(hours=1)
    if choice == "custom":
        first, last = form.cleaned_data["start"], form.cleaned_data["end"]
        start = _hour_floor(dt.datetime.combine(first, dt.time(), tzinfo=tz))
        end = _hour_floor(dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=tz))
    elif PRESETS[choice] > HOURLY_UP_TO:
        first = (now.astimezone(tz) - PRESETS[choice] + dt.timedelta(days=1)).date()
        start = _hour_floor(dt.datetime.combine(first, dt.time(), tzinfo=tz))
    else:
        start = end - PRESETS[choice]
    return Period(choice, start, end, tz, "hour" if end - start <= HOURLY_UP_TO else "day")
