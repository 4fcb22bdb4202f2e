"""Minimal settings for the tutorial's chat consumer.

BENCH_TUTORIAL_LAYER picks the channel layer: `pubsub` (channels-redis'
RedisPubSubChannelLayer, the default when REDIS_URL is set), `core` (RedisChannelLayer) or
`memory` (InMemoryChannelLayer, the default without REDIS_URL).
"""

import os

from django.core.management.utils import get_random_secret_key

SECRET_KEY = os.environ.get("SECRET_KEY") or get_random_secret_key()
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["channels"]
MIDDLEWARE = []
ROOT_URLCONF = "bench.tutorial.urls"
ASGI_APPLICATION = "bench.tutorial.asgi.application"
DATABASES = {}
USE_TZ = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

REDIS_URL = os.environ.get("REDIS_URL", "")
LAYER = os.environ.get("BENCH_TUTORIAL_LAYER") or ("pubsub" if REDIS_URL else "memory")
BACKENDS = {
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "core": "channels_redis.core.RedisChannelLayer",
    "memory": "channels.layers.InMemoryChannelLayer",
}
CHANNEL_LAYERS = {"default": {"BACKEND": BACKENDS[LAYER]}}
if LAYER != "memory":
    CHANNEL_LAYERS["default"]["CONFIG"] = {"hosts": [REDIS_URL]}
