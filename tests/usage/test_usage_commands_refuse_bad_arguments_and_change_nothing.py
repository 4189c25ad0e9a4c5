"""The ledger's commands refuse bad arguments with a clear one-line error (no traceback,
exit status 1 from manage.py) and change nothing: no row deleted, no summary written."""

import io
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from usage.models import ModelUsageStat, ModelUsageSummary
from usage.records import build
from usage.writer import write_records

pytestmark = pytest.mark.django_db

OLD = datetime(2020, 1, 1, 10, tzinfo=UTC)


@pytest.fixture
def old_rows(make_tenant):
    tenant = make_tenant()
    write_records([
        build(tenant_id=tenant.pk, provider="groq", model="llama-3.3-70b-versatile",
              status="success", request_id=uuid.uuid4(), attempt=1, prompt_tokens=10,
              completion_tokens=5, latency_ms=120, created_at=OLD)
        for _ in range(3)
    ])
    return tenant


@pytest.fixture
def summarised_old_rows(old_rows):
    # Prune keeps raw rows the summary has not absorbed yet: absorb them, so that only the
    # bad argument stands between these rows and their deletion.
    call_command("refresh_usage_summary", stdout=io.StringIO())
    return old_rows


@pytest.mark.parametrize("args,message", [
    (["--batch-size", "0"], "--batch-size"),
    (["--batch-size=-3"], "--batch-size"),
    (["--batch-size", "99"], "--batch-size"),
    (["--older-than", "yesterday"], "duration"),
    (["--older-than=-5d"], "duration"),
    (["--older-than", "90x"], "duration"),
])
def test_prune_refuses_bad_arguments_and_deletes_nothing(summarised_old_rows, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("prune_usage", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert ModelUsageStat.objects.count() == 3


def test_prune_with_a_good_batch_size_still_deletes(summarised_old_rows):
    # Guards the cases above: the same rows do go with good arguments.
    call_command("prune_usage", "--older-than", "30d", "--batch-size", "100",
                 stdout=io.StringIO(), stderr=io.StringIO())
    assert ModelUsageStat.objects.count() == 0


@pytest.mark.parametrize("args", [
    ["--since", "2025-01-01", "--full"],
    ["--since", "2025-13-45"],
    ["--since", "soon"],
])
def test_refresh_refuses_bad_arguments_and_writes_no_summary(old_rows, args):
    with pytest.raises(CommandError):
        call_command("refresh_usage_summary", *args, stdout=io.StringIO())
    assert not ModelUsageSummary.objects.exists()


@pytest.mark.slow
def test_manage_py_reports_the_error_on_one_line_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "prune_usage", "--batch-size", "0"],
        cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
             "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("CommandError: --batch-size must be at least")
