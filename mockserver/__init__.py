"""mockserver: a mock server for third-party HTTP APIs."""

__version__ = "0.1.0"
