"""django-crontab's ``crontab add|show|remove|run``, refusing to ``add`` jobs that would
run with other settings than this process has (see usage/cron.py)."""

from django.conf import settings
from django_crontab.management.commands.crontab import Command as DjangoCrontabCommand

from usage.cron import check_installable


class Command(DjangoCrontabCommand):
    def handle(self, *args, **options):
        if options["subcommand"] == "add":
            check_installable()
        super().handle(*args, **options)
        if options["subcommand"] == "add":
            self.stdout.write(
                f"The jobs read their settings from {settings.ENV_FILE} and append their "
                f"output to {settings.CRON_LOG_FILE}."
            )
