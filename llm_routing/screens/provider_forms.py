"""The provider selection form: tenants' InferenceConfigForm with the screen's own inputs.

The validation and the config document are ``tenants.forms.InferenceConfigForm``'s; this
subclass only swaps two inputs for friendlier ones: each model becomes a dropdown filled
from the provider's model list, and the failover order becomes a position per provider.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from llm_routing import providers
from tenants.forms import InferenceConfigForm
from tenants.inference_config import InferenceConfig
from usage.money import format_usd


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


def _money(per_million) -> str:
    return "free" if Decimal(str(per_million)) == 0 else format_usd(per_million)


def model_choice_label(model: dict) -> str:
    """``llama-3.3-70b (128K context · $0.59 in / $0.79 out per M tokens)``."""
    parts = []
    if model.get("context_length"):
        parts.append(f"{round(int(model['context_length']) / 1024)}K context")
    price_in, price_out = model.get("price_in_per_m"), model.get("price_out_per_m")
    if price_in is None or price_out is None:
        parts.append("price unknown")
    else:
        parts.append(f"{_money(price_in)} in / {_money(price_out)} out per M tokens")
    return f"{model['id']} ({' · '.join(parts)})"


def _model_choices(current: str, listing: dict[str, Any], default: str) -> list[tuple[str, str]]:
    """The provider's models, plus the configured one when the list no longer has it."""
    models = listing.get("models") if isinstance(listing, dict) else None
    listed = [m for m in models or [] if isinstance(m, dict) and m.get("id")]
    choices = [("", f"— the provider's default ({default or 'none'}) —")]
    if current and current not in {m["id"] for m in listed}:
        choices.append((current, f"{current} (current; not in the model list)"))
    return choices + [(m["id"], model_choice_label(m)) for m in listed]


class ProviderSelectionForm(InferenceConfigForm):
    def __init__(self, *args, config: InferenceConfig, catalogue: dict[str, Any], **kwargs):
        super().__init__(*args, config=config, **kwargs)
        self.fields["preferred_provider"].widget = forms.RadioSelect(
            choices=self.fields["preferred_provider"].choices
        )
        # Filled from the positions in clean(); its errors are shown with the positions.
        self.fields["failover_order"].widget = forms.HiddenInput()
        order = config.candidate_order()
        positions = [(str(i), _ordinal(i)) for i in range(1, len(order) + 1)]
        for provider in providers.all_providers():
            name = provider.name
            self.fields[f"model_{name}"] = forms.ChoiceField(
                label="Model",
                required=False,
                choices=_model_choices(
                    self.initial.get(f"model_{name}") or "",
                    catalogue.get(name) or {},
                    provider.default_model,
                ),
            )
            self.fields[f"order_{name}"] = forms.TypedChoiceField(
                label="Failover position", choices=positions, coerce=int
            )
            self.initial.setdefault(f"order_{name}", str(order.index(name) + 1))
            for kind in ("requests", "tokens"):
                field = self.fields[f"quota_{kind}_{name}"]
                field.label = f"{kind.capitalize()} per day"
                default = getattr(provider.default_daily_quota, kind)
                hint = f"default {default:,}" if default else "no limit"
                field.widget.attrs["placeholder"] = hint

    def provider_fields(self, name: str) -> dict[str, forms.BoundField]:
        return {
            "model": self[f"model_{name}"],
            "order": self[f"order_{name}"],
            "quota_requests": self[f"quota_requests_{name}"],
            "quota_tokens": self[f"quota_tokens_{name}"],
        }

    def full_clean(self):
        # The hidden failover_order is derived from the positions before anything validates.
        if self.is_bound:
            self.data = self.data.copy()
            self.data[self.add_prefix("failover_order")] = ", ".join(self._ordered())
        super().full_clean()

    def _ordered(self) -> list[str]:
        def position(name: str) -> int:
            raw = self.data.get(self.add_prefix(f"order_{name}"), "")
            return int(raw) if str(raw).isdigit() else 10**6

        return sorted(providers.provider_names(), key=position)

    def clean(self):
        seen: dict[int, str] = {}
        for name in providers.provider_names():
            position = self.cleaned_data.get(f"order_{name}")
            if position in seen:
                label = providers.get_provider(seen[position]).label
                self.add_error(f"order_{name}", f"{label} already has this position.")
            elif position is not None:
                seen[position] = name
        return super().clean()
