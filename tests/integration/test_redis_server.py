"""The private redis-server fixture: starts on a free port, can be stopped and started again."""

from __future__ import annotations

import redis

from daj.testing.redis_server import RedisServer


def test_private_server_round_trip_and_restart(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url, socket_timeout=1)
    assert redis_server.port != 6379
    client.set("k", "v")
    assert client.get("k") == b"v"
    redis_server.stop()
    try:
        client.ping()
        raise AssertionError("ping succeeded against a stopped server")
    except redis.ConnectionError:
        pass
    redis_server.start()
    assert client.ping() is True
    assert client.get("k") is None  # no persistence: a restart starts empty
