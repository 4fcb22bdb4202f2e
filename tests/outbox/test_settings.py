import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def _settings(**env) -> dict:
    """Read a few settings as a fresh process with this environment would."""
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps({'EMAIL_BACKEND': settings.EMAIL_BACKEND, "
        "'EMAIL_FILE_PATH': str(getattr(settings, 'EMAIL_FILE_PATH', '')), "
        "'TASKS': settings.TASKS}))"
    )
    inherited = {k: v for k, v in os.environ.items() if k not in ("TASKS_BACKEND", "EMAIL_URL")}
    environ = inherited | {"DJANGO_SETTINGS_MODULE": "chatserver.settings.base", "DEBUG": "true"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=environ | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_email_url_filemail_keeps_an_absolute_folder(tmp_path):
    folder = tmp_path / "mail"

    got = _settings(EMAIL_URL=f"filemail://{folder}")

    assert str(folder).startswith("/")
    assert got["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend"
    assert got["EMAIL_FILE_PATH"] == str(folder)


def test_tasks_run_immediately_by_default():
    got = _settings()

    assert got["TASKS"] == {
        "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}
    }


def test_tasks_backend_database_switches_to_the_database_worker():
    got = _settings(TASKS_BACKEND="database")

    assert got["TASKS"] == {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }


def test_tasks_backend_unknown_is_refused():
    with pytest.raises(subprocess.CalledProcessError) as excinfo:
        _settings(TASKS_BACKEND="celery")

    assert "TASKS_BACKEND must be 'immediate' or 'database'" in excinfo.value.stderr
