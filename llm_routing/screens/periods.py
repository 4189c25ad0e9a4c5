"""The dashboard's period picker: 24 h, 7 d, 30 d or a custom range of local dates.

Periods are read in the tenant's time zone (UTC for the all-tenants view): "30 d" is the
30 days up to now, and a custom range runs from local midnight of its first date to local
midnight after its last. Buckets are hours for short periods and local days beyond a week.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django import forms

PRESETS = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7), "30d": dt.timedelta(days=30)}
DEFAULT = "24h"
MAX_CUSTOM_DAYS = 366
HOURLY_UP_TO = dt.timedelta(days=7)


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

    def buckets(self) -> list[dt.datetime]:
        """Every bucket's start, in local time: the x axis, with empty buckets kept."""
        if self.bucket == "hour":
            # Whole UTC hours, so DST changes neither skip nor repeat an hour.
            first = self.start.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
            count = int((self.end - first) / dt.timedelta(hours=1) + 0.999999)
            return [(first + dt.timedelta(hours=i)).astimezone(self.tz) for i in range(count)]
        day = self.start.astimezone(self.tz).date()
        last = (self.end - dt.timedelta(microseconds=1)).astimezone(self.tz).date()
        days = []
        while day <= last:
            days.append(dt.datetime.combine(day, dt.time(), tzinfo=self.tz))
            day += dt.timedelta(days=1)
        return days


class PeriodForm(forms.Form):
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
        if start is None:
            self.add_error("start", "Choose the first day of the range.")
        if end is None:
            self.add_error("end", "Choose the last day of the range.")
        if start and end and end < start:
            self.add_error("end", "The last day comes before the first.")
        elif start and end and (end - start).days + 1 > MAX_CUSTOM_DAYS:
            self.add_error("end", f"A range covers at most {MAX_CUSTOM_DAYS} days.")
        return cleaned


def period_from(form: PeriodForm, *, tz: zoneinfo.ZoneInfo, now: dt.datetime) -> Period:
    """The chosen period, or the default one when the form has errors (shown beside it)."""
    choice = (form.cleaned_data.get("period") if form.is_valid() else None) or DEFAULT
    if choice == "custom":
        start = dt.datetime.combine(form.cleaned_data["start"], dt.time(), tzinfo=tz)
        end = dt.datetime.combine(
            form.cleaned_data["end"] + dt.timedelta(days=1), dt.time(), tzinfo=tz
        )
        return Period("custom", start, end, tz, "hour" if end - start <= HOURLY_UP_TO else "day")
    span = PRESETS[choice]
    return Period(choice, now - span, now, tz, "hour" if span <= HOURLY_UP_TO else "day")
