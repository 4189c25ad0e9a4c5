"""Real manage.py / python processes with a clean, production-like environment.

Every variable is set explicitly, so a developer's .env (read without overwriting) cannot
change the outcome. An override of None leaves that variable unset.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)


def production_env(tmp_path, **overrides) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "llm.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://llm.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        "SECURE_PROXY_SSL_HEADER": "true",
        "LLM_EXTRA_PROVIDERS": "[]",
        **overrides,
    }
    return {name: value for name, value in env.items() if value is not None}


def run_python(env, *args, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def manage(env, *args, timeout=60) -> subprocess.CompletedProcess:
    return run_python(env, "manage.py", *args, timeout=timeout)
