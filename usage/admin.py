"""Admin for the ledger: read-only usage rows that stay fast on a big table, editable prices.

The row list never counts the table: the paginator counts at most CAP rows (and on
PostgreSQL reads the planner's row estimate for the unfiltered list), the full count is
off, filters offer known values from small tables instead of scanning the big one, and
ordering is by the time-ordered id (the primary key index). Staff see the rows of the
tenants they are members of, whatever their role (tenants.permissions); list prices are
the platform's catalogue, not a tenant's, and keep Django's model permissions. A tenant's
own prices (``TenantPrice``) are the tenant's: its members see them, and those who may
change its provider settings (``Action.CHANGE_CONFIG``) set them.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

from llm_routing.providers import is_known
from tenants.admin.scoping import (
    MissingBeforeForbiddenMixin,
    RolePermissionsMixin,
    TenantScopedAdmin,
)
from tenants.permissions import Action
from tenants.selectors import tenants_for_user
from usage import budget_admin  # noqa: F401  (registers the budget admins)
from usage.models import ModelUsageStat, ModelUsageSummary, Price, ProviderModel, TenantPrice
from usage.money import format_usd
from usage.statuses import Status


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows; an unfiltered PostgreSQL list uses the planner's estimate."""

    CAP = 5_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor == "postgresql" and not queryset.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > self.CAP:
                return int(row[0])
        return len(queryset.order_by().values_list("pk", flat=True)[: self.CAP])


class TenantFilter(admin.SimpleListFilter):
    title = "tenant"
    parameter_name = "tenant"

    def lookups(self, request, model_admin):
        tenants = tenants_for_user(request.user, Action.VIEW_USAGE).order_by("name")
        return [(str(t.pk), t.name) for t in tenants]

    def queryset(self, request, queryset):
        allowed = {key for key, _ in self.lookup_choices}
        if self.value() in allowed:
            return queryset.filter(tenant_id=self.value())
        return queryset


def _models_seen_by(user):
    """Models the user's tenants have used (per the summary table, which is small)."""
    models = ProviderModel.objects.order_by("provider", "name")
    if user.is_superuser:
        return models
    return models.filter(
        pk__in=ModelUsageSummary.objects.filter(
            tenant__in=tenants_for_user(user, Action.VIEW_USAGE)
        ).values("model_id")
    )


class ProviderFilter(admin.SimpleListFilter):
    title = "provider"
    parameter_name = "provider"

    def lookups(self, request, model_admin):
        providers = {m.provider for m in _models_seen_by(request.user)}
        return [(p, p) for p in sorted(providers)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(model__provider=self.value())
        return queryset


class ModelFilter(admin.SimpleListFilter):
    title = "model"
    parameter_name = "model"

    def lookups(self, request, model_admin):
        return [(str(m.pk), str(m)) for m in _models_seen_by(request.user)]

    def queryset(self, request, queryset):
        if self.value() and self.value().isdigit():
            return queryset.filter(model_id=int(self.value()))
        return queryset


@admin.register(ModelUsageStat)
class ModelUsageStatAdmin(RolePermissionsMixin, MissingBeforeForbiddenMixin, admin.ModelAdmin):
    """Read-only; every member of a tenant sees its rows (``VIEW_USAGE``), superusers all."""

    view_action = Action.VIEW_USAGE

    list_display = (
        "created_at", "tenant", "model", "status_label", "attempt", "prompt_tokens",
        "completion_tokens", "cached_tokens", "reasoning_tokens", "latency_ms", "ttft_ms",
        "cost_display", "error_type",
    )
    list_filter = (
        TenantFilter,
        ProviderFilter,
        ModelFilter,
        "status",
        ("created_at", admin.DateFieldListFilter),
    )
    list_select_related = ("model", "tenant")
    list_per_page = 100
    show_full_result_count = False
    paginator = CappedCountPaginator
    ordering = ("-id",)
    date_hierarchy = None
    readonly_fields = (
        "id", "created_at", "tenant", "model", "status", "attempt", "request_id",
        "prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens",
        "tokens_estimated", "latency_ms", "ttft_ms",
        "cost_pusd", "cost_source", "error_type", "seq",
    )

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        allowed = list(
            tenants_for_user(request.user, Action.VIEW_USAGE).values_list("pk", flat=True)
        )
        return queryset.filter(tenant_id__in=allowed)

    @admin.display(description="status", ordering="status")
    def status_label(self, row):
        return Status(row.status).label

    @admin.display(description="cost (USD)")
    def cost_display(self, row):
        cost = row.cost_usd
        if cost is None:
            return format_usd(None)
        return f"{format_usd(cost)} ({row.get_cost_source_display()})"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


PRICE_COLUMNS = (
    "input_per_million", "output_per_million", "cached_input_per_million",
    "reasoning_per_million",
)


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = ("provider", "model", *PRICE_COLUMNS, "effective_from", "source")
    list_filter = ("provider",)
    search_fields = ("model",)
    ordering = ("provider", "model", "-effective_from")


class TenantPriceForm(forms.ModelForm):
    """Prices are checked by the model's validators (not negative, at most
    ``MAX_PRICE_PER_MILLION``); the provider must be one routing knows."""

    class Meta:
        model = TenantPrice
        fields = ("tenant", "provider", "model", *PRICE_COLUMNS, "effective_from", "note")

    def clean_provider(self) -> str:
        provider = self.cleaned_data["provider"].strip()
        if not is_known(provider):
            raise forms.ValidationError("Not a provider routing knows.")
        return provider

    def clean_model(self) -> str:
        model = self.cleaned_data["model"].strip()
        if not model:
            raise forms.ValidationError("Give the model's name as the provider spells it.")
        return model


@admin.register(TenantPrice)
class TenantPriceAdmin(TenantScopedAdmin):
    """A tenant's own prices; from ``effective_from`` on they replace the list price for
    its rows (``manage.py reprice_usage`` re-prices rows written before a change)."""

    view_action = Action.VIEW_USAGE
    change_action = Action.CHANGE_CONFIG
    add_action = Action.CHANGE_CONFIG
    form = TenantPriceForm
    list_display = ("tenant", "provider", "model", *PRICE_COLUMNS, "effective_from", "note")
    list_filter = ("provider",)
    list_select_related = ("tenant",)
    search_fields = ("model",)
    ordering = ("tenant__name", "provider", "model", "-effective_from")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == self.tenant_field:
            # Only tenants whose provider settings this user may change.
            kwargs["queryset"] = tenants_for_user(request.user, Action.CHANGE_CONFIG)
            return admin.ModelAdmin.formfield_for_foreignkey(self, db_field, request, **kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
