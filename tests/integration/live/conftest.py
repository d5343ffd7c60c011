"""Fixtures of the live-state tests: a real redis-server of their own."""

from tests.fixtures.redis_server import redis_client, redis_server

__all__ = ["redis_client", "redis_server"]
