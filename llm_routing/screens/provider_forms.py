"""The provider selection form: preferred provider, a model per provider, failover, quotas.

The form only shapes input into a config patch; ``tenants.services`` validates and saves
it, and its per-field errors (``provider_models.groq``) come back beside the right input.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from llm_routing import providers
from tenants.inference_config import InferenceConfig


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


def _money(per_million) -> str:
    if per_million is None:
        return "price unknown"
    value = Decimal(str(per_million))
    return "free" if value == 0 else f"${value.normalize():f}"


def model_choice_label(model: dict) -> str:
    """``llama-3.3-70b (128K context · $0.59 in / $0.79 out per M tokens)``."""
    parts = []
    if model.get("context_length"):
        parts.append(f"{round(int(model['context_length']) / 1024)}K context")
    price_in, price_out = model.get("price_in_per_m"), model.get("price_out_per_m")
    if price_in is None and price_out is None:
        parts.append("price unknown")
    else:
        parts.append(f"{_money(price_in)} in / {_money(price_out)} out per M tokens")
    return f"{model['id']} ({' · '.join(parts)})"


class ProviderSelectionForm(forms.Form):
    preferred_provider = forms.ChoiceField(widget=forms.RadioSelect, label="Preferred provider")
    auto_failover = forms.BooleanField(
        required=False,
        label="Fail over automatically",
        help_text="On a rate limit or a provider error, try the next provider that has a key.",
    )
    quota_threshold = forms.DecimalField(
        label="Quota threshold (%)",
        min_value=5,
        max_value=100,
        decimal_places=1,
        help_text="Skip a provider once this share of its daily quota is used.",
    )

    def __init__(self, *args, config: InferenceConfig, catalogue: dict[str, Any], **kwargs):
        super().__init__(*args, **kwargs)
        self.config = config
        self.fields["preferred_provider"].choices = [
            (p.name, p.label) for p in providers.all_providers()
        ]
        self.initial.setdefault("preferred_provider", config.preferred_provider)
        self.initial.setdefault("auto_failover", config.auto_failover)
        self.initial.setdefault(
            "quota_threshold", Decimal(str(round(config.quota_threshold * 100, 1)))
        )
        order = config.candidate_order()
        positions = [(str(i), _ordinal(i)) for i in range(1, len(order) + 1)]
        for provider in providers.all_providers():
            name, own = provider.name, config.daily_quotas.get(provider.name)
            self.fields[f"model_{name}"] = forms.ChoiceField(
                label=f"{provider.label} model",
                choices=_model_choices(
                    config.model_for(name), catalogue.get(name) or {}, provider.default_model
                ),
                required=False,
            )
            self.fields[f"order_{name}"] = forms.TypedChoiceField(
                label="Failover position", choices=positions, coerce=int
            )
            self.fields[f"quota_requests_{name}"] = _quota_field(
                "Requests per day", provider.default_daily_quota.requests
            )
            self.fields[f"quota_tokens_{name}"] = _quota_field(
                "Tokens per day", provider.default_daily_quota.tokens
            )
            self.initial.setdefault(f"model_{name}", config.model_for(name) or "")
            self.initial.setdefault(f"order_{name}", str(order.index(name) + 1))
            self.initial.setdefault(f"quota_requests_{name}", own.requests if own else None)
            self.initial.setdefault(f"quota_tokens_{name}", own.tokens if own else None)

    def provider_fields(self, name: str) -> dict[str, forms.BoundField]:
        return {
            "model": self[f"model_{name}"],
            "order": self[f"order_{name}"],
            "quota_requests": self[f"quota_requests_{name}"],
            "quota_tokens": self[f"quota_tokens_{name}"],
        }

    def clean(self):
        cleaned = super().clean()
        seen: dict[int, str] = {}
        for name in providers.provider_names():
            position = cleaned.get(f"order_{name}")
            if position is None:
                continue
            if position in seen:
                self.add_error(
                    f"order_{name}",
                    f"{providers.get_provider(seen[position]).label} already has this position.",
                )
            seen.setdefault(position, name)
        return cleaned

    def config_patch(self) -> dict[str, Any]:
        """The cleaned input as a patch for ``tenant_update_inference_config``."""
        data, names = self.cleaned_data, providers.provider_names()
        quotas: dict[str, Any] = {}
        for name in names:
            requests, tokens = data.get(f"quota_requests_{name}"), data.get(f"quota_tokens_{name}")
            # Both empty: the provider's default applies, so the tenant's own entry goes.
            quotas[name] = None if requests is None and tokens is None else {
                "requests": requests,
                "tokens": tokens,
            }
        return {
            "preferred_provider": data["preferred_provider"],
            "auto_failover": bool(data.get("auto_failover")),
            "provider_models": {n: data.get(f"model_{n}") or None for n in names},
            "failover_order": sorted(names, key=lambda n: data[f"order_{n}"]),
            "daily_quotas": quotas,
            "quota_threshold": float(data["quota_threshold"]) / 100,
        }

    def add_config_errors(self, errors: dict[str, str], patch: dict[str, Any]) -> None:
        """Put each of the service's field errors beside the input it is about."""
        for path, message in errors.items():
            self.add_error(self._field_for(path, patch), message)

    def _field_for(self, path: str, patch: dict[str, Any]) -> str | None:
        head, _, rest = path.partition(".")
        provider, _, sub = rest.partition(".")
        if head == "provider_models":
            return f"model_{provider or patch['preferred_provider']}"
        if head == "failover_order" and provider.isdigit():
            return f"order_{patch['failover_order'][int(provider)]}"
        if head == "daily_quotas" and sub in ("requests", "tokens"):
            return f"quota_{sub}_{provider}"
        if head in ("preferred_provider", "auto_failover", "quota_threshold"):
            return head
        return None


def _model_choices(
    current: str | None, listing: dict[str, Any], default: str
) -> list[tuple[str, str]]:
    """The provider's models, plus the configured one when the list no longer has it."""
    listed = [m for m in listing.get("models", []) if isinstance(m, dict) and m.get("id")]
    choices = [("", f"— the provider's default ({default or 'none'}) —")]
    if current and current not in {m["id"] for m in listed}:
        choices.append((current, f"{current} (current; not in the model list)"))
    return choices + [(m["id"], model_choice_label(m)) for m in listed]


def _quota_field(label: str, default: int | None) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=False,
        min_value=1,
        max_value=10**12,
        widget=forms.NumberInput(
            attrs={"placeholder": f"default {default:,}" if default else "no limit"}
        ),
    )
