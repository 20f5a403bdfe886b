"""Shared fixtures: the real server on a free loopback port (see tests/serving.py), a real
redis-server (tests/redis_server.py)."""

pytest_plugins = [
    "tests.serving",
    "tests.redis_server",
    "tests.webhook_receiver",
    "tests.upstreams",
    "tests.browser",
]
