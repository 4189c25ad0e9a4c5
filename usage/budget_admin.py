"""Admin for budgets and their alert history (issue 12), scoped like every tenant admin.

Every member sees their tenants' budgets and alerts; who may add, change or remove a
budget is whoever may change the tenant's provider settings (``Action.MANAGE_BUDGETS``:
operators and owners, superusers everywhere). Another tenant's budget or alert is a 404.
Bad input (a negative limit, thresholds that are not 1-1000, a second budget for the same
period) is a form error: the model's validators and its constraints are checked by the
form before anything is saved; a second budget saved by someone else between that check
and the save is an error message, not a 500 (TenantScopedAdmin).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin

from tenants.admin.scoping import TenantScopedAdmin
from tenants.forms import RefuseUnsafeText
from tenants.permissions import Action
from tenants.selectors import tenants_for_user
from usage.budgets import parse_thresholds
from usage.models import Budget, BudgetAlert
from usage.money import format_usd, usd_from_pico


class BudgetForm(RefuseUnsafeText, forms.ModelForm):
    class Meta:
        model = Budget
        fields = ("tenant", "period", "limit_usd", "mode", "alert_thresholds")

    def clean(self):
        cleaned = super().clean()
        # On the change page the tenant is read-only, so Django's own check of the unique
        # (tenant, period) constraint leaves it out: checked here instead (else a 500).
        period = cleaned.get("period")
        if "tenant" not in self.fields and period and self.instance.tenant_id:
            taken = Budget.objects.filter(tenant_id=self.instance.tenant_id, period=period)
            if taken.exclude(pk=self.instance.pk).exists():
                self.add_error("period", "This tenant already has a budget for this period.")
        return cleaned

    def clean_alert_thresholds(self):
        # Stored in one spelling ("50,80,100"), whatever spacing or order was typed.
        return ",".join(str(t) for t in parse_thresholds(self.cleaned_data["alert_thresholds"]))


@admin.register(Budget)
class BudgetAdmin(TenantScopedAdmin):
    form = BudgetForm
    change_action = Action.MANAGE_BUDGETS
    add_action = Action.MANAGE_BUDGETS
    list_display = ("tenant", "period", "limit_display", "mode", "alert_thresholds", "updated_at")
    list_select_related = ("tenant",)
    list_filter = ("period", "mode")
    search_fields = ("tenant__name", "tenant__slug")

    def get_readonly_fields(self, request, obj=None):
        # A budget stays with its tenant: to move it, delete it and add another.
        return ("tenant",) if obj is not None else ()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "tenant":
            kwargs["queryset"] = tenants_for_user(request.user, Action.MANAGE_BUDGETS)
            return db_field.formfield(**kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return self.role_allows(request, Action.MANAGE_BUDGETS, obj)

    @admin.display(description="limit", ordering="limit_usd")
    def limit_display(self, obj: Budget) -> str:
        return format_usd(obj.limit_usd)


@admin.register(BudgetAlert)
class BudgetAlertAdmin(TenantScopedAdmin):
    """The alert history: read-only, what fired when and what was delivered."""

    view_action = Action.VIEW_USAGE
    list_display = (
        "fired_at", "tenant", "period", "threshold_display", "spent_display", "mode",
        "emailed_at", "webhook_at", "delivery_attempts", "delivery_errors",
    )
    list_select_related = ("tenant", "window")
    # Choices only: a filter of distinct values would read them from every tenant's rows.
    list_filter = ("mode",)
    search_fields = ("tenant__name", "tenant__slug")
    ordering = ("-fired_at",)
    readonly_fields = (
        "tenant", "window", "threshold", "fired_at", "spent_pusd", "limit_pusd", "mode",
        "emailed_at", "email_error", "webhook_at", "webhook_error", "delivery_attempts",
        "next_attempt_at",
    )

    @admin.display(description="period")
    def period(self, obj: BudgetAlert) -> str:
        return obj.window.get_period_display()

    @admin.display(description="threshold", ordering="threshold")
    def threshold_display(self, obj: BudgetAlert) -> str:
        return f"{obj.threshold}%"

    @admin.display(description="spent of limit")
    def spent_display(self, obj: BudgetAlert) -> str:
        spent = format_usd(usd_from_pico(obj.spent_pusd))
        return f"{spent} of {format_usd(usd_from_pico(obj.limit_pusd))}"

    @admin.display(description="delivery errors")
    def delivery_errors(self, obj: BudgetAlert) -> str:
        return "; ".join(e for e in (obj.email_error, obj.webhook_error) if e) or "—"

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
