"""Print a new Fernet key for FIELD_ENCRYPTION_KEYS."""

from django.core.management.base import BaseCommand

from tenants import crypto


class Command(BaseCommand):
    help = (
        "Print a new key for FIELD_ENCRYPTION_KEYS. To rotate, put it first in the list "
        "(NEW,OLD), run rotate_encryption_key, then drop OLD."
    )
    # It must run when the key is missing: that is what it is for (see tenants.E001).
    requires_system_checks = []

    def handle(self, *args, **options):
        self.stdout.write(crypto.generate_key())
