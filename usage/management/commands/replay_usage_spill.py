from django.core.management.base import BaseCommand

from usage.locks import command_lock
from usage.spill_replay import replay_orphaned_spill


class Command(BaseCommand):
    help = "Write usage records from spill files left by processes that are gone."

    def handle(self, *args, **options):
        with command_lock("replay_usage_spill") as acquired:
            if not acquired:
                self.stdout.write("usage spill: another replay is running; nothing done")
                return
            self.stdout.write(str(replay_orphaned_spill()))
