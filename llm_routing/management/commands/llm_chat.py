"""Send one routed chat request for a tenant and print the answer and the attempts."""

from django.core.management.base import BaseCommand, CommandError

import usage
from llm_routing import router
from llm_routing.management.arguments import positive_tokens, temperature
from usage.money import format_usd


class Command(BaseCommand):
    help = 'Route a prompt for a tenant: manage.py llm_chat --tenant SLUG "prompt"'

    def add_arguments(self, parser):
        parser.add_argument("prompt")
        parser.add_argument("--tenant", required=True, help="slug or id")
        parser.add_argument("--provider", help="override the preferred provider")
        parser.add_argument("--model", help="override the model (for that provider)")
        parser.add_argument("--max-tokens", type=positive_tokens, default=256)
        parser.add_argument("--temperature", type=temperature)

    def _attempts(self, attempts, skipped) -> None:
        for number, a in enumerate(attempts, start=1):
            code = a.status_code if a.status_code is not None else "-"
            self.stdout.write(
                f"  attempt {number}: {a.provider} {a.model} -> {a.outcome} "
                f"(HTTP {code}, {a.latency_ms} ms) {a.reason}"
            )
        for s in skipped:
            self.stdout.write(f"  skipped: {s.provider}: {s.reason}")

    def handle(self, *args, prompt, tenant, provider, model, max_tokens, temperature, **opts):
        if not prompt.strip():
            raise CommandError("the prompt is empty")
        try:
            result = router.complete(
                tenant=tenant,
                messages=[{"role": "user", "content": prompt}],
                max_tokens=max_tokens,
                temperature=temperature,
                provider=provider,
                model=model,
            )
        except router.RoutingError as error:
            self._attempts(error.attempts, error.skipped)
            raise CommandError(error.reason) from None
        finally:
            usage.flush(timeout=10)
        self.stdout.write(result.content)
        self._attempts(result.attempts, result.skipped)
        cost = format_usd(result.cost)
        if result.cost is not None:
            cost += f" ({result.cost_source})"
        self.stdout.write(
            f"answered by {result.provider} {result.model} in {result.latency_ms} ms, "
            f"{result.usage.total_tokens} tokens, cost {cost}, request {result.request_id}"
        )
