"""Settings for the benchmarked server: the real base settings, with only what a benchmark
on loopback needs changed. Every change is listed in bench/README.md and in the results.
"""

import os

from django.core.management.utils import get_random_secret_key

# bench.run passes one key to every process of a run (logins made on one server process
# must be valid on the next); a key of its own only for a server started by hand.
os.environ.setdefault("SECRET_KEY", get_random_secret_key())

from chatserver.settings.base import *  # noqa: F403
from chatserver.settings.base import CHANNEL_LAYERS, REDIS_URL, STORAGES, env

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

# Members sign in through the real login page once each. With Django's default hasher
# (PBKDF2) that costs about half a second of CPU per login here, which would make a 500
# member run spend minutes signing in; MD5 makes it microseconds. Only the stored hash
# format changes: the login view, sessions and authentication are the real ones.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

# The per-user rate limit (10 messages per 10 s) would refuse the capacity scenario's
# senders; the benchmark raises it (BENCH_RATE_LIMIT messages per ROOM_RATE_LIMIT_SECONDS)
# and reports the value it used. The check itself still runs on every message.
ROOM_RATE_LIMIT_MESSAGES = env.int("BENCH_RATE_LIMIT", default=1000)
# Likewise the per-socket frame rate (60 per 10 s) and the per-user actions; the buckets
# are still taken on every frame.
LIVE_FRAMES_MAX = ROOM_RATE_LIMIT_MESSAGES
LIVE_ACTIONS_MAX = ROOM_RATE_LIMIT_MESSAGES

# Scenario 6 watches the server close clients that stopped reading; the site's 30 s would
# make its phase longer than the whole run can afford. The closing logic is the same.
LIVE_SLOW_CLIENT_SECONDS = env.float("LIVE_SLOW_CLIENT_SECONDS", default=10.0)

# Plain HTTP on loopback: no redirect to https, no secure-only cookies.
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
LANGUAGE_COOKIE_SECURE = False

# The login page renders {% static %}; without collectstatic there is no manifest.
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
WHITENOISE_USE_FINDERS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

# BENCH_CHANNEL_LAYER=core swaps the pub/sub layer for channels-redis' core layer, to
# compare the two; unset, the base settings' choice stands.
_layer = os.environ.get("BENCH_CHANNEL_LAYER", "")
if REDIS_URL and _layer:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": {
                "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "core": "channels_redis.core.RedisChannelLayer",
            }[_layer],
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
