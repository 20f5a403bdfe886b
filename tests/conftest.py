"""Shared fixtures: the real server on a free loopback port (see tests/serving.py)."""

pytest_plugins = ["tests.serving"]
