"""Forms for a tenant's inference config and provider keys (the admin and operator screens).

Both build their fields from the provider registry, so a provider added there shows up
here. They validate through the same code as the JSON API (``inference_config.parse`` and
``services.token_format_problem``) and never save: views pass the result to a service.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.views.decorators.debug import sensitive_variables

from llm_routing import providers
from tenants import inference_config, services

# A NUL cannot be stored by PostgreSQL; a lone surrogate cannot be encoded into a page; a
# U+FFFD is what Django's decoding left of bytes that were not UTF-8 (such as a surrogate's).
_UNSAFE_TEXT = re.compile("[\x00\ud800-\udfff\ufffd]")
UNSAFE_TEXT_MESSAGE = "Remove the NUL characters or text that was not UTF-8: they cannot be stored."


class RefuseUnsafeText:
    """Form mixin: a NUL, lone surrogate or U+FFFD in any submitted value (a field's or
    not) is an error on its field, or on the form.

    A client that sends bytes that are not UTF-8 (a surrogate's, say) gets them decoded to
    U+FFFD by Django, which would otherwise be stored as if typed; forms filled from code can
    hold real lone surrogates. These are replaced by U+FFFD in the data the page shows back,
    since a page quoting them could not be encoded (a 500).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Checked here, before any subclass derives fields from the raw data.
        self._unsafe_names: list[str] = []
        if not self.is_bound:
            return
        data = self.data.copy()
        for name in list(data):
            values = data.getlist(name) if hasattr(data, "getlist") else [data[name]]
            if any(isinstance(v, str) and _UNSAFE_TEXT.search(v) for v in values):
                self._unsafe_names.append(name)
                values = [_UNSAFE_TEXT.sub("\ufffd", v) if isinstance(v, str) else v
                          for v in values]
                if hasattr(data, "setlist"):
                    data.setlist(name, values)
                else:
                    data[name] = values[0]
        self.data = data

    def full_clean(self):
        super().full_clean()
        for name in self._unsafe_names:
            field = name.removeprefix(f"{self.prefix}-") if self.prefix else name
            self.add_error(field if field in self.fields else None, UNSAFE_TEXT_MESSAGE)


def _field_for_config_path(path: str) -> str | None:
    """The form field that shows the schema error at ``path`` (None: a form-wide error)."""
    head, _, rest = path.partition(".")
    if head in ("preferred_provider", "auto_failover"):
        return head
    if head == "quota_threshold":
        return "quota_threshold_percent"
    if head == "failover_order":
        return "failover_order"
    if head == "provider_models" and rest and providers.is_known(rest):
        return f"model_{rest}"
    if head == "daily_quotas" and rest:
        provider, _, kind = rest.partition(".")
        if providers.is_known(provider) and kind in ("requests", "tokens"):
            return f"quota_{kind}_{provider}"
    return None


class InferenceConfigForm(RefuseUnsafeText, forms.Form):
    """A tenant's inference config as form fields; ``config_document()`` after validation.

    Pass ``config=`` (the current InferenceConfig) for the initial values.
    """

    preferred_provider = forms.ChoiceField(help_text="Tried first for every request.", choices=())
    auto_failover = forms.BooleanField(
        required=False,
        label="Fail over automatically",
        help_text="On rate limits and provider errors, try the next provider that has a key.",
    )
    failover_order = forms.CharField(
        required=False,
        max_length=500,
        help_text="Provider names after the preferred one, comma-separated (e.g. "
        "“openrouter, llm7”); providers left out follow in the registry's order.",
    )
    quota_threshold_percent = forms.FloatField(
        label="Quota threshold (%)",
        min_value=5,
        max_value=100,
        help_text="Skip a provider once this share of its daily quota is used.",
    )

    def __init__(self, *args, config: inference_config.InferenceConfig | None = None, **kwargs):
        config = config or inference_config.load(inference_config.default_config_json())
        kwargs.setdefault("initial", self.initial_from(config))
        super().__init__(*args, **kwargs)
        self.fields["preferred_provider"].choices = [
            (p.name, p.label) for p in providers.all_providers()
        ]
        for provider in providers.all_providers():
            self.fields[f"model_{provider.name}"] = forms.CharField(
                required=False,
                max_length=inference_config.MAX_MODEL_NAME_LENGTH,
                label=f"{provider.label} model",
                help_text=f"e.g. {provider.default_model}" if provider.default_model else "",
            )
        for provider in providers.all_providers():
            default = provider.default_daily_quota
            for kind in ("requests", "tokens"):
                fallback = getattr(default, kind)
                self.fields[f"quota_{kind}_{provider.name}"] = forms.IntegerField(
                    required=False,
                    min_value=1,
                    max_value=10**12,
                    label=f"{provider.label} daily {kind}",
                    help_text=(
                        f"Blank: the provider default ({fallback:,})."
                        if fallback
                        else "Blank: no limit."
                    ),
                )

    @staticmethod
    def initial_from(config: inference_config.InferenceConfig) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "preferred_provider": config.preferred_provider,
            "auto_failover": config.auto_failover,
            "failover_order": ", ".join(config.failover_order),
            "quota_threshold_percent": round(config.quota_threshold * 100, 2),
        }
        for provider, model in config.provider_models.items():
            initial[f"model_{provider}"] = model
        for provider, quota in config.daily_quotas.items():
            initial[f"quota_requests_{provider}"] = quota.requests
            initial[f"quota_tokens_{provider}"] = quota.tokens
        return initial

    def model_fields(self):
        return [self[f"model_{p}"] for p in providers.provider_names()]

    def leading_fields(self):
        """Everything above the quota table, in page order (for templates)."""
        return [
            self["preferred_provider"],
            self["auto_failover"],
            *self.model_fields(),
            self["failover_order"],
        ]

    def trailing_fields(self):
        """Everything below the quota table (for templates)."""
        return [self["quota_threshold_percent"]]

    def quota_rows(self):
        """(provider label, requests field, tokens field) per provider, for templates."""
        return [
            (p.label, self[f"quota_requests_{p.name}"], self[f"quota_tokens_{p.name}"])
            for p in providers.all_providers()
        ]

    def clean_failover_order(self) -> list[str]:
        raw = self.cleaned_data.get("failover_order") or ""
        return [part.strip() for part in raw.replace(";", ",").split(",") if part.strip()]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        document = self._document(cleaned)
        try:
            self._config = inference_config.parse(document)
        except inference_config.InferenceConfigError as exc:
            for path, message in exc.errors.items():
                field = _field_for_config_path(path)
                if path == "provider_models":  # the preferred provider has no model
                    field = f"model_{cleaned['preferred_provider']}"
                if path.startswith("failover_order."):
                    message = f"entry {int(path.split('.')[1]) + 1}: {message}"
                self.add_error(field, message if field else f"{path}: {message}")
        return cleaned

    @staticmethod
    def _document(cleaned: dict[str, Any]) -> dict[str, Any]:
        quotas: dict[str, dict[str, int | None]] = {}
        for provider in providers.provider_names():
            requests = cleaned.get(f"quota_requests_{provider}")
            tokens = cleaned.get(f"quota_tokens_{provider}")
            if requests is not None or tokens is not None:
                quotas[provider] = {"requests": requests, "tokens": tokens}
        return {
            "preferred_provider": cleaned["preferred_provider"],
            "auto_failover": cleaned["auto_failover"],
            "provider_models": {
                provider: model.strip()
                for provider in providers.provider_names()
                if (model := cleaned.get(f"model_{provider}") or "").strip()
            },
            "failover_order": cleaned["failover_order"],
            "daily_quotas": quotas,
            "quota_threshold": round(cleaned["quota_threshold_percent"] / 100, 4),
        }

    def config_document(self) -> dict[str, Any]:
        """The validated config as JSON, ready for ``tenant_update_inference_config``."""
        if not self.is_valid():
            raise ValueError("config_document() needs a valid form")
        return self._config.to_json()


class ProviderKeysForm(RefuseUnsafeText, forms.Form):
    """Set, replace or remove each provider's key.

    Inputs are password fields that are never filled in, not even when the form comes
    back with errors: a key typed once is never sent back to the browser. Pass
    ``status=services.tenant_token_status(tenant=...)`` to show what is configured.
    """

    def __init__(self, *args, status: dict[str, dict[str, Any]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.status = status or {}
        for provider in providers.all_providers():
            entry = self.status.get(provider.name) or {}
            self.fields[f"key_{provider.name}"] = forms.CharField(
                required=False,
                label=f"{provider.label} key",
                max_length=1024,
                widget=forms.PasswordInput(
                    render_value=False, attrs={"autocomplete": "new-password"}
                ),
                help_text=(
                    "Leave blank to keep the current key."
                    if entry.get("configured")
                    else f"Not configured. Format: {provider.key_hint}."
                ),
            )
            self.fields[f"remove_{provider.name}"] = forms.BooleanField(
                required=False,
                label=f"Remove the {provider.label} key",
                disabled=not entry.get("configured"),
            )

    def rows(self):
        """(provider, status entry, key field, remove field) per provider, for templates."""
        return [
            (
                provider,
                self.status.get(provider.name) or {},
                self[f"key_{provider.name}"],
                self[f"remove_{provider.name}"],
            )
            for provider in providers.all_providers()
        ]

    @sensitive_variables()
    def clean(self):
        cleaned = super().clean()
        for provider in providers.provider_names():
            key = cleaned.get(f"key_{provider}") or ""
            if not key:
                continue
            if cleaned.get(f"remove_{provider}"):
                self.add_error(
                    f"remove_{provider}", "Either enter a new key or remove the key, not both."
                )
            elif problem := services.token_format_problem(provider, key):
                self.add_error(f"key_{provider}", ValidationError(f"This {problem}."))
        return cleaned

    @sensitive_variables()
    def changes(self) -> dict[str, str | None]:
        """provider -> new key, or None to remove; providers left alone are absent."""
        if not self.is_valid():
            raise ValueError("changes() needs a valid form")
        result: dict[str, str | None] = {}
        for provider in providers.provider_names():
            if self.cleaned_data.get(f"remove_{provider}"):
                result[provider] = None
            elif key := self.cleaned_data.get(f"key_{provider}"):
                result[provider] = key
        return result
