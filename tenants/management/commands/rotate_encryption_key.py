"""Re-encrypt every stored provider key under the newest FIELD_ENCRYPTION_KEYS entry."""

from django.core.management.base import BaseCommand, CommandError

from tenants import crypto
from tenants.key_rotation import tokens_rotate


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


class Command(BaseCommand):
    help = (
        "Re-encrypt every tenant's provider keys under the first key in "
        "FIELD_ENCRYPTION_KEYS. Idempotent; safe to interrupt and rerun."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="tenants per batch")
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would change, change nothing"
        )

    def handle(self, *args, batch_size, dry_run, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")

        def progress(done, total):
            if total > batch_size:
                self.stderr.write(f"  {done}/{total} tenants ({100 * done // total}%)")

        report = tokens_rotate(batch_size=batch_size, dry_run=dry_run, progress=progress)
        verb = "would re-encrypt" if dry_run else "re-encrypted"
        summary = (
            f"rotate_encryption_key: {_count(report.tenants, 'tenant')}, {verb} "
            f"{_count(report.reencrypted, 'key')}, {report.already_current} already current, "
            f"{len(report.unreadable)} unreadable"
        )
        if report.unreadable:
            # Kept as they are, and the exit status says someone has to look.
            raise CommandError(
                f"{summary}: {', '.join(report.unreadable)} cannot be decrypted with "
                f"{crypto.key_source()} (left untouched; add the key they were written "
                "with, or set them again)"
            )
        self.stdout.write(summary)
