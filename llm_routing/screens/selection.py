"""Provider selection for one tenant: preferred provider, models, failover and quotas."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

import llm_routing
from llm_routing import providers
from llm_routing.screens.common import render_screen, tenant_for
from llm_routing.screens.provider_forms import ProviderSelectionForm
from tenants import permissions, services
from tenants.permissions import Action

logger = logging.getLogger(__name__)


def _catalogue(tenant) -> tuple[dict, str | None]:
    """The model lists, or an empty one and a warning: the page must open without them."""
    try:
        return llm_routing.available_models(tenant=tenant), None
    except Exception:  # the page still works: each dropdown keeps the current model
        logger.exception("model lists unavailable for tenant %s", tenant.pk)
        return {}, "The model lists could not be loaded; only the current models are offered."


@require_http_methods(["GET", "POST"])
def providers_page(request: HttpRequest, tenant_id) -> HttpResponse:
    """Every member sees the settings (read-only without ``CHANGE_CONFIG``); saving needs it."""
    action = Action.CHANGE_CONFIG if request.method == "POST" else Action.VIEW_TENANT
    tenant = tenant_for(request, tenant_id, action)
    catalogue, warning = _catalogue(tenant)
    form = ProviderSelectionForm(
        request.POST if request.method == "POST" else None,
        config=tenant.config,
        catalogue=catalogue,
    )
    if not permissions.can(request.user, Action.CHANGE_CONFIG, tenant):
        for field in form.fields.values():
            field.disabled = True
    if request.method == "POST":
        if form.is_valid():
            # The form holds the whole validated document, so it replaces the stored one.
            services.tenant_update_inference_config(
                tenant=tenant, patch=form.config_document(), replace=True
            )
            messages.success(request, "Provider settings saved.")
            return redirect("screens:providers", tenant_id=tenant.pk)
        messages.error(request, "Nothing was saved. Fix the fields marked below.")
    elif warning:
        messages.warning(request, warning)
    configured = set(tenant.configured_providers())
    radios = {radio.data["value"]: radio for radio in form["preferred_provider"]}
    cards = [
        {
            "provider": p,
            "fields": form.provider_fields(p.name),
            "radio": radios[p.name],
            "has_key": p.name in configured,
            "is_preferred": p.name == tenant.config.preferred_provider,
            "listing": catalogue.get(p.name) or {},
        }
        for p in providers.all_providers()
    ]
    return render_screen(
        request,
        "admin/screens/providers.html",
        title=f"Providers and models: {tenant.name}",
        tenant=tenant,
        active="screens:providers",
        context={"form": form, "cards": cards},
    )
