"""Create (or refresh) the demo tenant and an admin login for local use. Idempotent."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from tenants.models import Tenant


class Command(BaseCommand):
    help = "Create the demo tenant and an admin user, and print the login."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", help="default: a new random password")

    def handle(self, *args, username, password, **options):
        tenant, created = Tenant.objects.get_or_create(
            slug="demo", defaults={"name": "Demo tenant", "timezone": "Europe/London"}
        )
        password = password or secrets.token_urlsafe(9)
        User = get_user_model()
        user, _ = User.objects.get_or_create(username=username, defaults={"email": ""})
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        self.stdout.write(
            f"demo tenant {'created' if created else 'present'}: {tenant.name} ({tenant.pk})\n"
            f"admin login: username={username} password={password}"
        )
