from django.core.management.base import BaseCommand

from usage.locks import command_lock
from usage.operations import take_snapshot


class Command(BaseCommand):
    help = (
        "Store the Operations screen's figures (metrics of every process, table sizes, "
        "summary lag, spill files) as this minute's snapshot; delete snapshots older than "
        "OPS_SNAPSHOT_RETENTION_DAYS."
    )

    def handle(self, *args, **options):
        with command_lock("snapshot_operations") as acquired:
            if not acquired:
                self.stdout.write("operations snapshot: another snapshot is running; nothing done")
                return
            self.stdout.write(str(take_snapshot()))
