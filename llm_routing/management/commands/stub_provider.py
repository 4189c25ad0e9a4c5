"""Run the loopback stub provider in the foreground (Ctrl-C stops it).

It prints ``export <PROVIDER>_BASE_URL=...`` lines to paste into the shell that runs
``llm_chat`` (or the server), then the good keys as comments on lines of their own.
"""

from django.core.management.base import BaseCommand, CommandError

from llm_routing.management.arguments import port_number
from llm_routing.stub.server import PROVIDERS, StubProvider


class Command(BaseCommand):
    help = "Serve the offline stub provider on 127.0.0.1 (base URLs /<provider>/v1)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=port_number, default=8009)
        parser.add_argument("--seed", default="demo", help="the good keys derive from this")

    def handle(self, *args, port, seed, **options):
        try:
            stub = StubProvider(port=port, seed=seed)
        except OSError as exc:
            reason = exc.strerror or exc
            raise CommandError(f"cannot listen on 127.0.0.1:{port}: {reason}") from None
        # Everything printed can be pasted into a shell: export lines, and comments.
        for provider in PROVIDERS:
            self.stdout.write(f"export {provider.upper()}_BASE_URL={stub.base_url(provider)}")
        self.stdout.write(f"# good keys for --seed {seed} (seed_demo --with-stub-keys: 'demo'):")
        for provider in PROVIDERS:
            self.stdout.write(f"#   {provider}: {stub.good_key(provider)}")
        self.stdout.write(f"# stub provider listening on {stub.url} (control: {stub.url}/_stub/)")
        self.stdout.flush()  # before serving: the lines must reach a pipe too
        try:
            stub.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            stub.stop()
