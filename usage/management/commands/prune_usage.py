from django.conf import settings
from django.core.management.base import BaseCommand

from usage.durations import parse_duration
from usage.locks import command_lock
from usage.retention import prune_usage


class Command(BaseCommand):
    help = "Delete raw usage rows older than the retention period, in batches (summaries stay)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            default=f"{settings.USAGE_RETENTION_DAYS}d",
            help="age like 90d, 12h (default: USAGE_RETENTION_DAYS)",
        )
        parser.add_argument("--batch-size", type=int, default=20_000)

    def handle(self, *args, older_than, batch_size, **options):
        age = parse_duration(older_than)
        batch_size = max(100, batch_size)

        def progress(deleted: int, batches: int) -> None:
            if batches % 25 == 0:
                self.stderr.write(f"  ... {deleted} rows deleted in {batches} batches")

        with command_lock("prune_usage") as acquired:
            if not acquired:
                self.stdout.write("usage prune: another prune is running; nothing done")
                return
            report = prune_usage(older_than=age, batch_size=batch_size, progress=progress)
        self.stdout.write(str(report))
