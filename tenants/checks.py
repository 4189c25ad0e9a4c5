"""System checks for configuration that must stop a production start."""

import json
import re
from pathlib import Path

from django.conf import settings
from django.core.checks import Error, Tags, register

from llm_routing import providers
from tenants import crypto

MAKE_A_KEY = (
    'Make one with `python manage.py generate_encryption_key` (or `python -c "from '
    'cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`) and set '
    "FIELD_ENCRYPTION_KEYS to it; when rotating, list the new key first, comma-separated."
)


@register(Tags.security, deploy=False)
def check_encryption_keys(app_configs, **kwargs):
    """FIELD_ENCRYPTION_KEYS must hold valid Fernet keys (tenants.E001).

    Registered as a normal (not deploy-only) check so that ``runserver``, ``migrate`` and
    every other command refuse to start without a usable key. Only with DEBUG on may the
    list be empty: a development key is then kept in FIELD_ENCRYPTION_DEV_KEY_FILE.
    """
    keys = [k.strip() for k in settings.FIELD_ENCRYPTION_KEYS if k.strip()]
    dev_file = settings.FIELD_ENCRYPTION_DEV_KEY_FILE if settings.DEBUG else None
    if not keys and dev_file:
        if not Path(dev_file).exists():
            return []  # made on first use
        keys = [Path(dev_file).read_text().strip()]
    problems = crypto.key_list_problems(keys)
    if problems and not keys and not settings.DEBUG:
        problems = ["FIELD_ENCRYPTION_KEYS is empty; with DEBUG off it is required"]
    return [Error(problem, hint=MAKE_A_KEY, id="tenants.E001") for problem in problems]


@register(Tags.security, deploy=False)
def check_secret_key(app_configs, **kwargs):
    """With DEBUG off, SECRET_KEY must be set and must not be the development default
    (tenants.E002): sessions, CSRF tokens and key fingerprints all derive from it."""
    if settings.DEBUG:
        return []
    key = settings.SECRET_KEY or ""
    if key == getattr(settings, "DEV_SECRET_KEY", None) or len(key) < 50:
        return [
            Error(
                "SECRET_KEY is missing, too short or the development default, with DEBUG off",
                hint=(
                    "Set SECRET_KEY to 50 or more random characters, e.g. the output of "
                    '`python -c "import secrets; print(secrets.token_urlsafe(50))"`.'
                ),
                id="tenants.E002",
            )
        ]
    return []


@register(Tags.compatibility, deploy=False)
def check_extra_providers(app_configs, **kwargs):
    """LLM_EXTRA_PROVIDERS must build a usable provider registry (tenants.E003).

    The registry is built on first use, so a malformed list would otherwise pass every
    check and then fail each request that touches a provider; here it stops the start.
    """
    specs = settings.LLM_EXTRA_PROVIDERS
    if isinstance(specs, json.JSONDecodeError):  # config/settings.py keeps it so
        problem = f"it is not valid JSON: {specs.msg} at line {specs.lineno}, column {specs.colno}"
    elif not isinstance(specs, list):
        problem = f"it must be a JSON list, not {type(specs).__name__}"
    elif not all(isinstance(spec, dict) for spec in specs):
        problem = "each entry must be a JSON object"
    else:
        try:
            providers.provider_names()
        except KeyError as exc:
            problem = f"an entry has no {exc.args[0]!r} field"
        except (ValueError, TypeError, AttributeError, re.error) as exc:
            problem = str(exc).removeprefix("LLM_EXTRA_PROVIDERS: ")
        else:
            return []
    return [
        Error(
            f"LLM_EXTRA_PROVIDERS is not usable: {problem}",
            hint=(
                'Give a JSON list of objects such as [{"name": "vllm", "label": "Local vLLM", '
                '"base_url": "http://10.0.0.5:8000/v1", "key_pattern": "^.{8,}$"}]; names are '
                "lower-case, unique and not a built-in provider (groq, openrouter, llm7)."
            ),
            id="tenants.E003",
        )
    ]
