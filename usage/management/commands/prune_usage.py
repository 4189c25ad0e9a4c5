from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from usage.durations import parse_duration
from usage.locks import command_lock
from usage.retention import prune_usage

# Smaller batches would only add round trips; each batch is one short transaction anyway.
MIN_BATCH = 100


class Command(BaseCommand):
    help = "Delete raw usage rows older than the retention period, in batches (summaries stay)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            default=f"{settings.USAGE_RETENTION_DAYS}d",
            help="age like 90d, 12h (default: USAGE_RETENTION_DAYS)",
        )
        parser.add_argument(
            "--batch-size", type=int, default=20_000, help=f"rows per delete (at least {MIN_BATCH})"
        )

    def handle(self, *args, older_than, batch_size, **options):
        if batch_size < MIN_BATCH:
            raise CommandError(f"--batch-size must be at least {MIN_BATCH}, got {batch_size}.")
        age = parse_duration(older_than)

        def progress(deleted: int, batches: int) -> None:
            if batches % 25 == 0:
                self.stderr.write(f"  ... {deleted} rows deleted in {batches} batches")

        with command_lock("prune_usage") as acquired:
            if not acquired:
                self.stdout.write("usage prune: another prune is running; nothing done")
                return
            report = prune_usage(older_than=age, batch_size=batch_size, progress=progress)
        self.stdout.write(str(report))
