"""Settings read from the environment.

Every external service is off by default: SQLite, the in-memory channel layer and
email on the console. Environment variables switch to production parts (see the
README's table).
"""

import os
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)


def _secret_key() -> str:
    # Read as is: django-environ would take a key starting with "$" for a reference to
    # another variable, and Django's own generator makes such keys.
    key = os.environ.get("SECRET_KEY", "")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (a long random string); "
            "only a DEBUG run makes one up."
        )
    # A development key kept under var/ so sessions survive restarts and every local
    # server process signs alike.
    from django.core.management.utils import get_random_secret_key

    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(get_random_secret_key())
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "live",
    "outbox",
    "accounts",
    "communities",
    "rooms",
    "meetings",
    "agendas",
    "minutes",
    "chatserver",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatserver.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

ASGI_APPLICATION = "chatserver.asgi.application"
WSGI_APPLICATION = None

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DATABASE_POOL", default=False
):
    # Every database call of a socket runs on a worker thread; without a pool or
    # CONN_MAX_AGE each opens a new PostgreSQL connection (the benchmark's largest cost).
    # Django's own pool (psycopg_pool) hands them out instead. Opt-in for now: the test
    # suite does not pass with it yet (see bench/README.md).
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=2),
        "max_size": env.int("DATABASE_POOL_MAX", default=20),
        "timeout": 10,
    }
else:
    # Sockets run their database work on one thread per process (Channels'
    # database_sync_to_async): a persistent connection there saves a PostgreSQL connect
    # per call. Health checks drop a connection the server closed.
    is_postgres = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60 if is_postgres else 0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded database lives under var/, which a fresh clone does not have yet.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # WAL and a busy timeout let several server processes share the embedded database.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # The pub/sub layer fans out about twice as fast as the core layer here and
            # does not lose idle consumers (channels_redis #422). Messages are durable in
            # the database; the layer only carries them.
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            # Channel names start with the prefix: servers sharing one Redis for different
            # sites (or concurrent test runs) must use different ones.
            "CONFIG": {
                "hosts": [REDIS_URL],
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default="asgi"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env.str("TIME_ZONE", default="America/Toronto")
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
# Uploaded files (the minutes' attachments). Nothing serves MEDIA_ROOT: each file is
# served by a view that checks who asks, never from a public URL.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MINUTES_ATTACHMENT_MAX_BYTES = env.int("MINUTES_ATTACHMENT_MAX_BYTES", default=20 * 1024 * 1024)


# Email: console by default; EMAIL_URL switches, e.g. smtp+tls://user:pass@host:587,
# or filemail:///path/to/folder.
def _email_settings(url: str) -> dict:
    config = environ.Env.email_url_config(url)
    if url.startswith("filemail:///"):
        # django-environ drops the leading slash of an absolute folder.
        config["EMAIL_FILE_PATH"] = "/" + url.removeprefix("filemail:///").split("?")[0]
    return config


vars().update(_email_settings(env.str("EMAIL_URL", default="consolemail://")))
# Seconds an SMTP connection may block: a send must end well inside the outbox's lease.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Communities <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The address people reach the site at, for links in emails.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

# Behind a TLS-terminating proxy the request is still secure.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
LANGUAGE_COOKIE_SECURE = not DEBUG
LANGUAGE_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts, styles, images and connections from this
# site only; no inline script, style or event handler anywhere (templates load static
# files). 'self' covers the room's WebSocket (ws:// or wss:// to the same host and port) in
# browsers implementing CSP Level 3, as Chromium, Firefox and Safari do.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "object-src": [NONE],
    }
}

# How long /healthz waits for each part's answer, in seconds.
HEALTHZ_TIMEOUT = env.float("HEALTHZ_TIMEOUT", default=2.0)

# How long an invitation link stays valid, unless its creator says otherwise.
INVITATION_DEFAULT_DAYS = env.int("INVITATION_DEFAULT_DAYS", default=14)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # WeasyPrint (the minutes' PDF) logs each layout step at INFO; its warnings still show.
    "loggers": {"weasyprint.progress": {"level": "WARNING"}},
}

# Rooms: at most ROOM_RATE_LIMIT_MESSAGES messages per user in ROOM_RATE_LIMIT_SECONDS,
# counted across tabs and server processes.
ROOM_RATE_LIMIT_MESSAGES = env.int("ROOM_RATE_LIMIT_MESSAGES", default=10)
ROOM_RATE_LIMIT_SECONDS = env.int("ROOM_RATE_LIMIT_SECONDS", default=10)
# Heartbeat 15 s and timeout 40 s: a room connection whose process died leaves the online
# list within 55 s.
PRESENCE_TIMEOUT_SECONDS = env.float("PRESENCE_TIMEOUT_SECONDS", default=40.0)

# The real-time layer (live/), under every socket.
# Each process's heartbeat: every socket's presence refreshed, its session checked, and
# its group told the news (a room: its last seq), in one trip to the database.
LIVE_HEARTBEAT_SECONDS = env.float("LIVE_HEARTBEAT_SECONDS", default=15.0)
# The largest frame the server sends (Daphne's --websocket-max-message-size, 64 KB as the
# Procfile and `make run` serve it, bounds outgoing frames too): history pages are cut.
LIVE_FRAME_MAX_BYTES = env.int("LIVE_FRAME_MAX_BYTES", default=65536)
# Load shedding. A socket whose client stopped reading gets no more live frames (it
# catches up from history) and waits for its answers; after LIVE_SLOW_CLIENT_SECONDS of
# that it is closed (4408).
LIVE_SLOW_CLIENT_SECONDS = env.float("LIVE_SLOW_CLIENT_SECONDS", default=30.0)
# While a process delivers events later than this after they were sent, it refuses new
# work (a message) with `overloaded` and a `retry_after` instead of queueing it.
LIVE_OVERLOAD_SECONDS = env.float("LIVE_OVERLOAD_SECONDS", default=2.0)
# What one client may ask of a process: sockets per user, frames per socket (a token
# bucket: LIVE_FRAMES_MAX at once, refilled over LIVE_FRAMES_SECONDS), and actions others
# see (edits, deletions, reports) per user.
LIVE_SOCKETS_PER_USER = env.int("LIVE_SOCKETS_PER_USER", default=20)
LIVE_FRAMES_MAX = env.int("LIVE_FRAMES_MAX", default=60)
LIVE_FRAMES_SECONDS = env.float("LIVE_FRAMES_SECONDS", default=10.0)
LIVE_ACTIONS_MAX = env.int("LIVE_ACTIONS_MAX", default=20)
LIVE_ACTIONS_SECONDS = env.float("LIVE_ACTIONS_SECONDS", default=10.0)
# On SIGTERM a process closes its sockets (4012: reconnect elsewhere), sends what was
# committed, and is gone within this many seconds.
LIVE_SHUTDOWN_SECONDS = env.float("LIVE_SHUTDOWN_SECONDS", default=8.0)

# Meetings: a series keeps its meetings created this many months ahead; the next meeting's
# chair is confirmed when the previous meeting ends, or this many days before it, whichever
# comes first.
MEETINGS_HORIZON_MONTHS = env.int("MEETINGS_HORIZON_MONTHS", default=12)
MEETINGS_CHAIR_CONFIRM_DAYS = env.int("MEETINGS_CHAIR_CONFIRM_DAYS", default=28)
# A meeting left live ends by itself this long after its planned end (its minutes come).
AGENDAS_END_AFTER_HOURS = env.float("AGENDAS_END_AFTER_HOURS", default=2.0)

# The outbox (outbox/): every email is a row first, sent by a background job. A claimed
# message is leased for OUTBOX_LEASE_SECONDS (a worker that died meanwhile leaves it to the
# next); a failure is retried after OUTBOX_RETRY_BASE_SECONDS, doubling up to
# OUTBOX_RETRY_CAP_SECONDS, and the message is marked failed after OUTBOX_MAX_ATTEMPTS.
OUTBOX_LEASE_SECONDS = env.int("OUTBOX_LEASE_SECONDS", default=300)
OUTBOX_RETRY_BASE_SECONDS = env.int("OUTBOX_RETRY_BASE_SECONDS", default=60)
OUTBOX_RETRY_CAP_SECONDS = env.int("OUTBOX_RETRY_CAP_SECONDS", default=3600)
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=8)

# Background jobs (Django's tasks API through django-tasks): run at once, in the process
# that asks, unless TASKS_BACKEND=database, where the Procfile's `worker` (db_worker) runs
# them from the database.
TASKS_BACKEND = env.str("TASKS_BACKEND", default="immediate")
if TASKS_BACKEND == "database":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
elif TASKS_BACKEND == "immediate":
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
else:
    raise ImproperlyConfigured(
        f"TASKS_BACKEND must be 'immediate' or 'database', not {TASKS_BACKEND!r}."
    )
