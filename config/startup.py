"""Refuse to serve with configuration that must stop a production start.

``manage.py`` commands run the system checks themselves, but a WSGI/ASGI server (gunicorn,
uvicorn, mod_wsgi) loads config.wsgi/config.asgi without running any check, so it would
start with no usable encryption key and fail only at the first provider key it reads. The
entry points call this after Django is set up so the server stops at once with the same
message (tenants.E001/E002/E003) that ``manage.py check`` gives.
"""

from django.core.exceptions import ImproperlyConfigured


def refuse_to_start_misconfigured() -> None:
    from tenants.checks import check_encryption_keys, check_extra_providers, check_secret_key

    errors = check_encryption_keys(None) + check_secret_key(None) + check_extra_providers(None)
    if errors:
        raise ImproperlyConfigured(
            "; ".join(f"({e.id}) {e.msg}. {e.hint}" for e in errors)
        )
