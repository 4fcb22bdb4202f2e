"""Test settings: the base, with only what tests need changed."""

import os
import secrets

from django.core.management.utils import get_random_secret_key

# A fresh key per test run; server subprocesses inherit it through the environment.
os.environ.setdefault("SECRET_KEY", get_random_secret_key())
# Channel names of their own on a shared Redis: concurrent runs never hear each other.
os.environ.setdefault("CHANNEL_LAYER_PREFIX", f"test{secrets.token_hex(4)}")

from .base import *  # noqa: F403
from .base import DATABASES, STORAGES, VAR_DIR

ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = os.environ.get(
    "TEST_EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend"
)
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Tests speak plain HTTP to loopback.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
LANGUAGE_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0

# Browser tests run the real server in a subprocess, which must see the test database:
# with SQLite it lives in a file, not in memory.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

# Background jobs run at once, in the test's process, whatever the environment says.
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
