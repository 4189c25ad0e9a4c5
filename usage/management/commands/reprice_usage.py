from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError

from tenants.models import Tenant
from usage.locks import command_lock
from usage.models import ProviderModel
from usage.repricing import RepriceRefused, reprice

# Smaller batches would only add round trips; each changed batch is one transaction.
MIN_BATCH = 100


def _moment(option: str, text: str, *, end: bool) -> datetime:
    """An ISO date or time, UTC unless it says otherwise; a bare date as ``--to`` means the
    end of that day (``--from 2025-06-01 --to 2025-06-30`` is the whole of June)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(
            f"{option} {text!r}: give an ISO date or time (2025-06-01, 2025-06-01T12:00)."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end and len(text.strip()) == 10:  # a date alone: through the end of that day
        moment += timedelta(days=1)
    return moment


class Command(BaseCommand):
    help = (
        "Recompute the cost of past usage rows from the prices in force at each row's time "
        "(provider-reported costs are kept) and rebuild the summaries they are in."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", required=True,
                            help="first day or time (ISO, UTC unless it says otherwise)")
        parser.add_argument("--to", dest="end", required=True,
                            help="last day (inclusive) or the time the range ends before")
        parser.add_argument("--tenant", help="only this tenant (its slug)")
        parser.add_argument("--provider", help="only this provider's rows")
        parser.add_argument("--model", help="only this model's rows (needs --provider)")
        parser.add_argument("--dry-run", action="store_true",
                            help="say what would change, change nothing")
        parser.add_argument("--batch-size", type=int, default=5000,
                            help=f"rows read per batch (at least {MIN_BATCH})")

    def handle(self, *args, start, end, tenant=None, provider=None, model=None,
               dry_run=False, batch_size=5000, **options):
        if batch_size < MIN_BATCH:
            raise CommandError(f"--batch-size must be at least {MIN_BATCH}, got {batch_size}.")
        start_at, end_at = _moment("--from", start, end=False), _moment("--to", end, end=True)
        if not start_at < end_at:
            raise CommandError(f"--from {start} is not before --to {end}: the range is empty.")
        tenant_id = None
        if tenant is not None:
            found = Tenant.objects.filter(slug=tenant).values_list("pk", flat=True).first()
            if found is None:
                raise CommandError(f"--tenant {tenant!r}: no tenant has this slug.")
            tenant_id = found
        model_ids = self._model_ids(provider, model)
        with command_lock("reprice_usage") as acquired:
            if not acquired:
                self.stdout.write("usage reprice: another reprice is running; nothing done")
                return
            try:
                report = reprice(start=start_at, end=end_at, tenant_id=tenant_id,
                                 model_ids=model_ids, dry_run=dry_run, batch_size=batch_size)
            except RepriceRefused as exc:
                raise CommandError(f"usage reprice: {exc}.") from None
        self.stdout.write(str(report))

    def _model_ids(self, provider, model) -> list[int] | None:
        if model is not None and provider is None:
            raise CommandError("--model needs --provider (a model name is a provider's).")
        if provider is None:
            return None
        models = ProviderModel.objects.filter(provider=provider)
        if model is not None:
            models = models.filter(name=model)
        ids = list(models.values_list("pk", flat=True))
        if not ids:
            what = f"{provider}/{model}" if model is not None else provider
            raise CommandError(f"no usage was ever recorded for {what}.")
        return ids
