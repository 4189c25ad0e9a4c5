"""Create (or refresh) the demo tenant and an admin login for local use. Idempotent.

Meant for a development database (``make run`` calls it): with DEBUG off it refuses unless
``--force``. It only ever changes a user it created itself (marked by ``DEMO_USER_EMAIL``):
an existing "admin" of a real install keeps its password and its rights. It lives in
``llm_routing`` because ``--with-stub-keys`` stores the stub provider's good keys.
"""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from llm_routing.stub.server import PROVIDERS, derive_good_key
from tenants import services
from tenants.models import Tenant

# Which user seed_demo made: the only one it may reset. ".invalid" never delivers mail.
DEMO_USER_EMAIL = "admin@seed-demo.invalid"


class Command(BaseCommand):
    help = "Create the demo tenant and an admin user, and print the login (development only)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", help="default: a new random password")
        parser.add_argument(
            "--with-stub-keys",
            action="store_true",
            help="store the stub provider's good keys (its default --seed demo) in the tenant",
        )
        parser.add_argument(
            "--force", action="store_true", help="run even with DEBUG off (not for production)"
        )

    def handle(self, *args, username, password, with_stub_keys, force, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates a superuser with a printed password and is meant for a "
                "development database; DEBUG is off, so nothing was done (--force overrides)."
            )
        with transaction.atomic():
            tenant, created = Tenant.objects.get_or_create(
                slug="demo", defaults={"name": "Demo tenant", "timezone": "Europe/London"}
            )
            login = self._demo_login(username, password or secrets.token_urlsafe(9))
        self.stdout.write(
            f"demo tenant {'created' if created else 'present'}: {tenant.name} ({tenant.pk})"
        )
        if with_stub_keys:
            services.tenant_set_tokens(
                tenant=tenant, tokens={p: derive_good_key(p) for p in PROVIDERS}
            )
            self.stdout.write(f"stub provider keys stored for {', '.join(PROVIDERS)}")
        self.stdout.write(login)

    def _demo_login(self, username: str, password: str) -> str:
        User = get_user_model()
        user = User.objects.select_for_update().filter(**{User.USERNAME_FIELD: username}).first()
        if user is None:
            user = User(**{User.USERNAME_FIELD: username}, email=DEMO_USER_EMAIL)
        elif user.email != DEMO_USER_EMAIL:
            return (
                f"user {username!r} exists and was not created by seed_demo: left unchanged "
                "(log in with its own password, or pass --username for a demo login)"
            )
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        return f"admin login: username={username} password={password}"
