"""Issue 3: django-crontab's CRONJOBS refresh the usage summary hourly and prune daily, and
each job as written (its callable and arguments) runs the real command."""

import importlib

import pytest
from django.conf import settings


def _job(command_name: str):
    found = [job for job in settings.CRONJOBS if list(job[2]) == [command_name]]
    assert len(found) == 1, f"{command_name} is scheduled {len(found)} times"
    return found[0]


def _fields(schedule: str) -> list[str]:
    fields = schedule.split()
    assert len(fields) == 5, schedule
    return fields


def test_django_crontab_is_installed():
    assert "django_crontab" in settings.INSTALLED_APPS


def test_the_summary_refresh_runs_once_an_hour():
    minute, *rest = _fields(_job("refresh_usage_summary")[0])
    assert minute.isdigit() and 0 <= int(minute) < 60
    assert rest == ["*", "*", "*", "*"]


def test_pruning_runs_once_a_day():
    minute, hour, *rest = _fields(_job("prune_usage")[0])
    assert minute.isdigit() and hour.isdigit() and 0 <= int(hour) < 24
    assert rest == ["*", "*", "*"]


def test_budget_alerts_are_sent_every_minute():
    assert _fields(_job("send_budget_alerts")[0]) == ["*"] * 5


@pytest.mark.django_db
@pytest.mark.parametrize("command_name", ["refresh_usage_summary", "prune_usage"])
def test_each_job_as_written_runs_its_command(command_name, capsys):
    _, dotted, args = _job(command_name)
    module, _, name = dotted.rpartition(".")
    getattr(importlib.import_module(module), name)(*args)
    assert "usage" in capsys.readouterr().out  # the command's one-line summary


@pytest.mark.django_db
def test_the_budget_alert_job_as_written_runs_its_command(capsys):
    _, dotted, args = _job("send_budget_alerts")
    module, _, name = dotted.rpartition(".")
    getattr(importlib.import_module(module), name)(*args)
    assert "send_budget_alerts: 0 delivered" in capsys.readouterr().out
