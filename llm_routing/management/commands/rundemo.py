"""The README's first command ends here: seed the demo, start the stub provider, point the
providers at it, route some real requests so the ledger has rows, make a demo API key,
then serve the ASGI application (the admin and the OpenAI-compatible /v1/) with uvicorn.

The provider base URLs are overridden in this process only (``settings.*_BASE_URL``),
before anything is served; nothing is written to .env, so other commands keep the
configured URLs. The demo tenant's keys are the stub's good keys, stored by
``seed_demo --with-stub-keys`` through the tenant services like any key.
"""

from argparse import ArgumentTypeError
from decimal import Decimal

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

import usage
from llm_routing import router
from llm_routing.management.arguments import address_and_port, port_number
from llm_routing.stub.server import PROVIDERS, StubProvider
from tenants import services
from tenants.models import Tenant
from usage.models import Budget

DEMO_KEY_NAME = "make run demo"
PROMPTS = [
    "Summarise our refund policy in one sentence.",
    "Translate 'good morning' into French.",
    "Give three names for a hiking club.",
    "What is the capital of Australia?",
    "Write a haiku about databases.",
    "Explain rate limits to a new engineer.",
]


class Command(BaseCommand):
    help = "Seed the demo tenant, start the stub provider, route demo requests, serve."

    def add_arguments(self, parser):
        parser.add_argument("--addrport", default="127.0.0.1:8000")
        parser.add_argument("--stub-port", type=port_number, default=0, help="0: any free port")
        parser.add_argument("--no-serve", action="store_true", help="stop before serving")

    def _route_demo_requests(self, stub: StubProvider, tenant: Tenant) -> tuple[int, int]:
        # A 429 and a 503 among them, so the ledger shows failover as well as successes.
        stub.enqueue("groq", 429, {"retry-after": "2"}, {"error": {"message": "rate limited"}})
        stub.enqueue("openrouter", 503, {}, {"error": {"message": "no provider available"}})
        answered = failed = 0
        for round_number in range(3):
            for prompt in PROMPTS:
                provider = "llm7" if round_number == 2 and prompt == PROMPTS[0] else None
                try:
                    router.complete(
                        tenant=tenant,
                        messages=[{"role": "user", "content": prompt}],
                        max_tokens=128,
                        provider=provider,
                    )
                    answered += 1
                except router.RoutingError:
                    failed += 1
        usage.flush(timeout=30)
        return answered, failed

    def handle(self, *args, addrport, stub_port, no_serve, **options):
        if not no_serve:
            # Checked before anything is seeded: a taken or malformed address changes nothing.
            try:
                host, port = address_and_port(addrport)
            except ArgumentTypeError as exc:
                raise CommandError(str(exc)) from None
            addrport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        # The keys seed_demo stores are the good keys of a stub with the default seed.
        call_command("seed_demo", with_stub_keys=True, stdout=self.stdout)
        stub = StubProvider(port=stub_port).start()
        for provider in PROVIDERS:
            setattr(settings, f"{provider.upper()}_BASE_URL", stub.base_url(provider))
        tenant = Tenant.objects.get(slug="demo")
        services.tenant_update_inference_config(
            tenant=tenant, patch={"failover_order": ["openrouter", "llm7"]}
        )
        # A soft budget, so the usage screen shows a budget's use (soft: the demo's
        # requests are never refused by it).
        Budget.objects.get_or_create(
            tenant=tenant, period=Budget.Period.MONTH,
            defaults={"limit_usd": Decimal("0.001"), "mode": Budget.Mode.SOFT},
        )
        answered, failed = self._route_demo_requests(stub, tenant)
        self.stdout.write(
            f"stub provider on {stub.url}; demo tenant routed {answered} requests "
            f"({failed} failed) through it"
        )
        raw_key = self._fresh_demo_api_key(tenant)
        if no_serve:
            stub.stop()
            return
        base = f"http://{addrport}"
        self.stdout.write(f"admin: {base}/admin/")
        self.stdout.write(
            f"OpenAI-compatible endpoint: {base}/v1/ with the demo API key (new each run):\n"
            f"  {raw_key}\n"
            f"  curl -N {base}/v1/chat/completions -H 'Authorization: Bearer {raw_key}' "
            "-H 'Content-Type: application/json' "
            "-d '{\"model\": \"auto\", \"stream\": true, "
            "\"messages\": [{\"role\": \"user\", \"content\": \"Say hello\"}]}'"
        )
        self._serve(host, port)

    def _fresh_demo_api_key(self, tenant: Tenant) -> str:
        """The demo's API key: the last run's is revoked (its secret was never stored)."""
        for old in tenant.api_keys.filter(name=DEMO_KEY_NAME, revoked_at__isnull=True):
            services.api_key_revoke(key=old)
        return services.api_key_create(tenant=tenant, name=DEMO_KEY_NAME)[1]

    def _serve(self, host: str, port: int) -> None:
        # The ASGI application under uvicorn, in this process (the stub and the base URLs
        # above live here): the admin, and /v1/ streaming as in production.
        import uvicorn

        uvicorn.run("config.asgi:application", host=host, port=port, log_level="info")
