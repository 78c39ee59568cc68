import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_request_rates():
    """DRF's throttle on /api/auth/token/ counts in the cache, which outlives a test."""
    cache.clear()
    yield
    cache.clear()
