import json
import socket
import urllib.error
import urllib.request

import pytest

from tests.conftest import run_daphne
from tests.factories import UserFactory
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


def _refused_redis(settings) -> None:
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            # Nothing listens on this port.
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
        }
    }


@pytest.mark.django_db
def test_healthz_redis_refused_names_channel_layer(client, settings):
    _refused_redis(settings)

    response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "fail"
    assert body["failed"] == ["channel_layer"]
    assert body["parts"]["database"]["ok"] is True
    assert body["parts"]["channel_layer"]["ok"] is False


@pytest.mark.django_db
@pytest.mark.parametrize("viewer", ["anonymous", "member"])
def test_healthz_failure_shows_others_no_error_text_and_logs_it(client, settings, caplog, viewer):
    _refused_redis(settings)
    if viewer == "member":
        client.force_login(UserFactory())

    with caplog.at_level("WARNING", logger="chatserver.health"):
        response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 503
    assert body["failed"] == ["channel_layer"]
    assert set(body["parts"]["channel_layer"]) == {"ok", "ms"}
    assert set(body["parts"]["database"]) == {"ok", "ms"}
    assert "error" not in response.content.decode().lower()
    [record] = [r for r in caplog.records if r.name == "chatserver.health"]
    assert record.levelname == "WARNING"
    assert record.getMessage().startswith("healthz: channel_layer failed: ")
    assert len(record.getMessage()) > len("healthz: channel_layer failed: ")


@pytest.mark.django_db
def test_healthz_failure_shows_staff_the_error_text(client, settings):
    _refused_redis(settings)
    client.force_login(UserFactory(is_staff=True))

    response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 503
    assert body["parts"]["channel_layer"]["ok"] is False
    assert body["parts"]["channel_layer"]["error"] != ""
    assert set(body["parts"]["database"]) == {"ok", "ms"}


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
        client.force_login(UserFactory(is_staff=True))

        response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 503
    assert body["failed"] == ["channel_layer"]
    assert body["parts"]["channel_layer"]["error"] == "no answer within 0.5 s"


def test_healthz_database_down_names_database_and_logs_why(tmp_path):
    # The real server, pointed at a PostgreSQL port where nothing listens.
    dead_db = f"postgres://postgres@127.0.0.1:{free_port()}/nothing"
    log = tmp_path / "daphne.log"

    with run_daphne(log, DATABASE_URL=dead_db) as base:
        status, body = _get_json(f"{base}/healthz")

    assert status == 503
    assert body["failed"] == ["database"]
    assert body["parts"] == {
        "database": {"ok": False, "ms": body["parts"]["database"]["ms"]},
        "channel_layer": {"ok": True, "ms": body["parts"]["channel_layer"]["ms"]},
    }
    # Refused at once, or (with PostgreSQL's connection pool retrying) no answer in time.
    assert (
        "healthz: database failed: OperationalError" in log.read_text()
        or "healthz: database failed: no answer within" in log.read_text()
    )
