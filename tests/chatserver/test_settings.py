"""Production settings, checked in fresh processes with DEBUG off."""

import os
import subprocess
import sys

from django.core.management.utils import get_random_secret_key

from tests.conftest import ROOT


def _manage(*args: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    base_env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "ALLOWED_HOSTS"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={
            **base_env,
            "DJANGO_SETTINGS_MODULE": "chatserver.settings.base",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "VAR_DIR": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_reports_nothing_with_debug_off(tmp_path):
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "DEBUG",
        tmp_path=tmp_path,
        DEBUG="false",
        SECRET_KEY=get_random_secret_key(),
        ALLOWED_HOSTS="cop.example.org",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."


def test_start_without_secret_key_refused(tmp_path):
    result = _manage("check", tmp_path=tmp_path, DEBUG="false")

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_debug_run_keeps_its_made_up_key_under_var(tmp_path):
    first = _manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.SECRET_KEY)",
        tmp_path=tmp_path,
        DEBUG="true",
    )
    second = _manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.SECRET_KEY)",
        tmp_path=tmp_path,
        DEBUG="true",
    )

    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert first.stdout.strip() == (tmp_path / "secret_key").read_text().strip()


def test_environment_sets_hosts_origins_and_cookies(tmp_path):
    code = (
        "from django.conf import settings as s; "
        "print(s.ALLOWED_HOSTS, s.CSRF_TRUSTED_ORIGINS, s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.DEBUG)"
    )

    result = _manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        tmp_path=tmp_path,
        DEBUG="false",
        SECRET_KEY=get_random_secret_key(),
        ALLOWED_HOSTS="a.example.org,b.example.org",
        CSRF_TRUSTED_ORIGINS="https://a.example.org",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "['a.example.org', 'b.example.org'] ['https://a.example.org'] True True False"
    )


def test_redis_url_selects_pubsub_layer_and_database_url_postgres(tmp_path):
    code = (
        "from django.conf import settings as s; "
        "print(s.CHANNEL_LAYERS['default']['BACKEND'], s.CHANNEL_LAYERS['default']['CONFIG'], "
        "s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'])"
    )

    result = _manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        tmp_path=tmp_path,
        DEBUG="true",
        REDIS_URL="redis://127.0.0.1:6379/3",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/chatserver",
        CHANNEL_LAYER_PREFIX="site1",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "channels_redis.pubsub.RedisPubSubChannelLayer "
        "{'hosts': ['redis://127.0.0.1:6379/3'], 'prefix': 'site1'} "
        "django.db.backends.postgresql chatserver"
    )


def test_secret_key_starting_with_dollar_is_taken_as_is(tmp_path):
    key = "$" + get_random_secret_key()[1:]
    code = "from django.conf import settings as s; print(s.SECRET_KEY)"

    result = _manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        tmp_path=tmp_path,
        DEBUG="false",
        SECRET_KEY=key,
        ALLOWED_HOSTS="cop.example.org",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == key
