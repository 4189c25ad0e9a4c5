"""Move GROQ_API_KEY, OPENROUTER_API_KEY and LLM7_API_KEY from the environment into a tenant."""

import os

from django.core.management.base import BaseCommand, CommandError

from tenants.models import Tenant
from tenants.system_tokens import SystemTokenError, default_tenant, system_tokens_migrate


class Command(BaseCommand):
    help = (
        "Store the system-wide provider keys from the environment (GROQ_API_KEY, "
        "OPENROUTER_API_KEY, LLM7_API_KEY), encrypted, in one tenant (default: the oldest). "
        "Existing keys stay unless --overwrite. Rerunning changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", metavar="SLUG", help="default: the oldest tenant")
        parser.add_argument(
            "--overwrite", action="store_true", help="replace keys the tenant already has"
        )

    def handle(self, *args, tenant, overwrite, **options):
        if tenant is not None:
            target = Tenant.objects.filter(slug=tenant).first()
            if target is None:
                raise CommandError(f"No tenant with slug {tenant!r}.")
        else:
            target = default_tenant()
            if target is None:
                raise CommandError("There are no tenants yet; create one first.")
        try:
            outcome = system_tokens_migrate(tenant=target, environ=os.environ, overwrite=overwrite)
        except SystemTokenError as exc:
            raise CommandError(str(exc)) from None
        details = ", ".join(f"{provider} {what}" for provider, what in outcome.items())
        hint = (
            " (use --overwrite to replace)"
            if any(w.startswith("kept") for w in outcome.values())
            else ""
        )
        self.stdout.write(f"migrate_system_tokens: tenant {target.slug}: {details}{hint}")
