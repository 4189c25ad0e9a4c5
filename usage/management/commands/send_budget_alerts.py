from django.core.management.base import BaseCommand

from usage.budget_alerts import deliver_pending
from usage.locks import command_lock


class Command(BaseCommand):
    help = (
        "Deliver budget alerts not delivered yet (email and webhook), retrying failed ones "
        "after their back-off. Run every minute by cron; safe to run by hand at any time."
    )

    def handle(self, *args, **options):
        # The lock keeps two cron runs apart; rows are claimed one by one anyway, so a run
        # overlapping a process's own alert thread never sends an alert twice.
        with command_lock("send_budget_alerts") as acquired:
            if not acquired:
                self.stdout.write("send_budget_alerts: another run is delivering; nothing done")
                return
            report = deliver_pending()
        self.stdout.write(str(report))
