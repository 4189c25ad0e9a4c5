import time

from django.core.management.base import BaseCommand, CommandError

from config import metrics
from usage.durations import parse_since
from usage.locks import command_lock
from usage.spill_replay import replay_orphaned_spill
from usage.summary import refresh_summary, summary_lag_seconds


class Command(BaseCommand):
    help = "Add new usage rows to model_usage_summary (incremental; --since/--full rebuild)."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="also rebuild hours from this ISO time or 48h/7d ago")
        parser.add_argument("--full", action="store_true", help="rebuild every hour with raw rows")

    def handle(self, *args, since=None, full=False, **options):
        if since and full:
            raise CommandError("Give --since or --full, not both (--full rebuilds every hour).")
        start = parse_since(since) if since else None
        with command_lock("refresh_usage_summary") as acquired:
            if not acquired:
                self.stdout.write("usage summary: another refresh is running; nothing done")
                return
            replayed = replay_orphaned_spill()
            began = time.perf_counter()
            report = refresh_summary(since=start, full=full)
            metrics.summary_refreshed(time.perf_counter() - began, report.new_rows,
                                      summary_lag_seconds(report.to_seq))
        suffix = f"; {replayed}" if replayed.files else ""
        self.stdout.write(f"{report}{suffix}")

