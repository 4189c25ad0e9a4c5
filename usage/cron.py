"""What the scheduled jobs (settings.CRONJOBS, installed by ``manage.py crontab add``) need.

A cron line runs with almost no environment: the line written by django-crontab starts
with ``cd <checkout> && ENV_FILE=<file>`` (settings.CRONTAB_COMMAND_PREFIX), so a job reads
its settings from that file and from nothing else. ``crontab add`` therefore refuses when
the environment it runs in sets a variable differently from that file (the jobs would
quietly use other settings: another database, say), and ``run_command`` stamps each line
a job prints, for the log file the line appends to (settings.CRON_LOG_FILE).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import environ
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

# Read when installing, not by the jobs: they need not agree with the env file.
_INSTALL_TIME_ONLY = frozenset({"ENV_FILE", "CRONTAB_EXECUTABLE"})


def env_file_values(path: Path) -> dict[str, str]:
    """The variables ``path`` sets, parsed as settings parses it (django-environ)."""
    reader = type("_EnvFileReader", (environ.Env,), {"ENVIRON": {}})
    if Path(path).is_file():
        reader.read_env(str(path), overwrite=True)
    return dict(reader.ENVIRON)


def variables_cron_would_not_see() -> list[str]:
    """Names of the settings variables whose value here differs from the env file's.

    Values are compared, never shown: they may be secrets.
    """
    in_file = env_file_values(settings.ENV_FILE)
    names = set(settings.SETTINGS_ENV_VARIABLES) - _INSTALL_TIME_ONLY
    return sorted(name for name in names if os.environ.get(name) != in_file.get(name))


def check_installable() -> None:
    """Raise CommandError unless a cron job would run with this process's settings."""
    differing = variables_cron_would_not_see()
    if differing:
        raise CommandError(
            f"Nothing installed: {', '.join(differing)} "
            f"{'is' if len(differing) == 1 else 'are'} set in this environment but not, or "
            f"differently, in {settings.ENV_FILE}, the only settings a cron job reads. Put "
            "the production settings in that file (or set ENV_FILE to the file that holds "
            "them) and run `crontab add` again."
        )
    Path(settings.CRON_LOG_FILE).parent.mkdir(parents=True, exist_ok=True)


def run_command(name: str, *args: str) -> None:
    """Run management command ``name`` as a scheduled job: what it prints goes to stdout,
    each line stamped with the UTC time and the command's name (the cron line appends
    stdout and stderr to settings.CRON_LOG_FILE). A CommandError is one stamped line."""
    out = io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=out)
    except CommandError as exc:
        out.write(f"failed: {exc}\n")
    finally:
        stamp = timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        for line in out.getvalue().splitlines():
            print(f"{stamp} {name}: {line}", flush=True)
