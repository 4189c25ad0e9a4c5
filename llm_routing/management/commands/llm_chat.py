"""Send one routed chat request for a tenant and print the answer and the attempts.

Each attempt is printed once: the router's own INFO line about a failed attempt is held
back while the command runs (``-v 2`` shows it), and a failure ends with a one-line
CommandError that refers to the attempts instead of repeating them. ``--stream`` prints
the answer's text as it arrives, then the same attempts and summary.
"""

import contextlib
import logging

from django.core.management.base import BaseCommand, CommandError

import usage
from llm_routing import router, streaming
from llm_routing.management.arguments import positive_tokens, temperature
from usage.money import format_usd


@contextlib.contextmanager
def _router_log_above_info(active: bool):
    log = logging.getLogger(router.logger.name)
    previous = log.level
    if active:
        log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(previous)


class Command(BaseCommand):
    help = 'Route a prompt for a tenant: manage.py llm_chat --tenant SLUG [--stream] "prompt"'

    def add_arguments(self, parser):
        parser.add_argument("prompt")
        parser.add_argument("--tenant", required=True, help="slug or id")
        parser.add_argument("--provider", help="override the preferred provider")
        parser.add_argument("--model", help="override the model (for that provider)")
        parser.add_argument("--max-tokens", type=positive_tokens, default=256)
        parser.add_argument("--temperature", type=temperature)
        parser.add_argument("--stream", action="store_true", help="print tokens as they arrive")

    def _attempts(self, attempts, skipped) -> None:
        for number, a in enumerate(attempts, start=1):
            code = a.status_code if a.status_code is not None else "-"
            self.stdout.write(
                f"  attempt {number}: {a.provider} {a.model} -> {a.outcome} "
                f"(HTTP {code}, {a.latency_ms} ms) {a.reason}"
            )
        for s in skipped:
            self.stdout.write(f"  skipped: {s.provider}: {s.reason}")

    def _stream(self, request: dict) -> router.RoutingResult:
        with streaming.stream(**request) as answer:
            try:
                for chunk in answer:
                    if chunk.text:
                        self.stdout.write(chunk.text, ending="")
                        self.stdout.flush()
            finally:
                self.stdout.write("")  # end the answer's line, also when the stream broke
        return answer.result

    def handle(self, *args, prompt, tenant, provider, model, max_tokens, temperature, **opts):
        if not prompt.strip():
            raise CommandError("the prompt is empty")
        request = {
            "tenant": tenant,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "provider": provider,
            "model": model,
        }
        with _router_log_above_info(opts["verbosity"] < 2):
            try:
                if opts["stream"]:
                    result = self._stream(request)
                else:
                    result = router.complete(**request)
                    self.stdout.write(result.content)
            except router.RoutingError as error:
                self._attempts(error.attempts, error.skipped)
                detail = " (attempts above)" if error.attempts or error.skipped else ""
                raise CommandError(error.headline + detail) from None
            finally:
                usage.flush(timeout=10)
        self._attempts(result.attempts, result.skipped)
        cost = format_usd(result.cost)
        if result.cost is not None:
            cost += f" ({result.cost_source})"
        ttft = f" (first token after {result.ttft_ms} ms)" if result.ttft_ms is not None else ""
        self.stdout.write(
            f"answered by {result.provider} {result.model} in {result.latency_ms} ms{ttft}, "
            f"{result.usage.total_tokens} tokens, cost {cost}, request {result.request_id}"
        )
