"""The README's first command ends here: seed the demo data, then serve the admin."""

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Seed the demo tenant and admin login, then run the development server."

    def add_arguments(self, parser):
        parser.add_argument("--addrport", default="127.0.0.1:8000")

    def handle(self, *args, addrport, **options):
        call_command("seed_demo", stdout=self.stdout)
        self.stdout.write(f"admin: http://{addrport}/admin/")
        call_command("runserver", addrport, use_reloader=False)
