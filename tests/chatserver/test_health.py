import json
import socket
import urllib.error
import urllib.request

import pytest

from tests.conftest import run_daphne
from tests.services import free_port


def _get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.django_db
def test_healthz_embedded_defaults_ok(client):
    response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["failed"] == []
    assert set(body["parts"]) == {"database", "channel_layer"}
    assert body["parts"]["database"]["ok"] is True
    assert body["parts"]["channel_layer"]["ok"] is True
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_healthz_redis_layer_ok(client, settings, redis_url):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [redis_url]},
        }
    }

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["parts"]["channel_layer"]["ok"] is True


@pytest.mark.django_db
def test_healthz_redis_refused_names_channel_layer(client, settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            # Nothing listens on this port.
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
        }
    }

    response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "fail"
    assert body["failed"] == ["channel_layer"]
    assert body["parts"]["database"]["ok"] is True
    assert body["parts"]["channel_layer"]["ok"] is False


@pytest.mark.django_db
def test_healthz_redis_silent_times_out(client, settings):
    # A socket that accepts connections and never answers: a hung Redis.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        settings.HEALTHZ_TIMEOUT = 0.5
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [f"redis://127.0.0.1:{port}/0"]},
            }
        }

        response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 503
    assert body["failed"] == ["channel_layer"]
    assert body["parts"]["channel_layer"]["error"] == "no answer within 0.5 s"


def test_healthz_database_down_names_database(tmp_path):
    # The real server, pointed at a PostgreSQL port where nothing listens.
    dead_db = f"postgres://postgres@127.0.0.1:{free_port()}/nothing"

    with run_daphne(tmp_path / "daphne.log", DATABASE_URL=dead_db) as base:
        status, body = _get_json(f"{base}/healthz")

    assert status == 503
    assert body["failed"] == ["database"]
    assert body["parts"]["channel_layer"]["ok"] is True
    assert body["parts"]["database"]["ok"] is False
    # Refused at once, or (with PostgreSQL's connection pool retrying) no answer in time.
    assert body["parts"]["database"]["error"].startswith(("OperationalError", "no answer within"))
