"""System checks for configuration that must stop a production start."""

from django.conf import settings
from django.core.checks import Error, Tags, register

from tenants import crypto


@register(Tags.security, deploy=False)
def check_encryption_keys(app_configs, **kwargs):
    """With DEBUG off, FIELD_ENCRYPTION_KEYS must hold valid Fernet keys.

    Registered as a normal (not deploy-only) check so that ``runserver``, ``migrate`` and
    every other command refuse to start without a usable key.
    """
    if settings.DEBUG:
        return []
    keys = [k.strip() for k in settings.FIELD_ENCRYPTION_KEYS if k.strip()]
    return [
        Error(
            problem,
            hint=(
                "Run `python manage.py generate_encryption_key` and set FIELD_ENCRYPTION_KEYS "
                "to it (comma-separated, newest first, when rotating)."
            ),
            id="tenants.E001",
        )
        for problem in crypto.key_list_problems(keys)
    ]
