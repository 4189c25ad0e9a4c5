"""The key management form: one password input per provider, checked before anything is saved."""

from __future__ import annotations

from django import forms

from llm_routing import providers
from tenants import services


class KeyEntryForm(forms.Form):
    """A new key per provider; blank means "leave this provider's key as it is".

    The inputs are never pre-filled (``render_value=False``), not even after a failed
    submit, so a key typed once never travels back to the browser.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for provider in providers.all_providers():
            self.fields[self.field_name(provider.name)] = forms.CharField(
                label=f"New {provider.label} key",
                required=False,
                strip=True,
                max_length=1024,
                widget=forms.PasswordInput(
                    render_value=False,
                    attrs={"autocomplete": "new-password", "spellcheck": "false"},
                ),
                help_text=provider.key_hint,
            )

    @staticmethod
    def field_name(provider: str) -> str:
        return f"key_{provider}"

    def clean(self):
        cleaned = super().clean()
        for provider in providers.provider_names():
            name = self.field_name(provider)
            value = cleaned.get(name)
            if value and (problem := services.token_format_problem(provider, value)):
                self.add_error(name, f"Not saved: {problem}.")
        return cleaned

    def typed_keys(self) -> dict[str, str]:
        """provider -> key for every provider with something typed (after ``is_valid``)."""
        return {
            provider: value
            for provider in providers.provider_names()
            if (value := self.cleaned_data.get(self.field_name(provider)))
        }
