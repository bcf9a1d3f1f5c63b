"""Shared fixtures. Integration fixtures live in tests/integration/conftest.py."""

import pytest

from photostream.settings import Settings, get_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()
