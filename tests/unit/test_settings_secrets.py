"""Start-up refuses placeholder and short secrets unless development mode says otherwise."""

import pytest
from pydantic import ValidationError

from photostream.settings import DEV_JWT_SECRET, Settings

REAL = {"jwt_secret": "x" * 32, "s3_secret_key": "a-real-s3-secret", "dev_mode": False}


def test_real_secrets_are_accepted_outside_development() -> None:
    assert Settings(**REAL).dev_mode is False


@pytest.mark.parametrize(("override", "variable"), [
    ({"jwt_secret": DEV_JWT_SECRET}, "PHOTOSTREAM_JWT_SECRET is the built-in development secret"),
    ({"jwt_secret": "x" * 31}, "PHOTOSTREAM_JWT_SECRET is shorter than 32 bytes"),
    ({"s3_secret_key": "photostream-dev-secret"}, "PHOTOSTREAM_S3_SECRET_KEY is the built-in development secret"),
    ({"jwt_algorithm": "RS256"}, "PHOTOSTREAM_JWT_PRIVATE_KEY is not set"),
    ({"jwt_algorithm": "RS256", "jwt_private_key": "k"}, "PHOTOSTREAM_JWT_PUBLIC_KEY is not set"),
    ({"consistency_secret": "short"}, "PHOTOSTREAM_CONSISTENCY_SECRET is shorter than 32 bytes"),
], ids=["default-jwt", "short-jwt", "default-s3", "rs256-no-private", "rs256-no-public", "short-consistency"])
def test_a_placeholder_or_short_secret_is_refused_naming_the_variable(override: dict, variable: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(**(REAL | override))
    assert variable in str(refused.value)
    if "jwt_algorithm" not in override:  # (an RS256 key pair is needed in development too: no such advice)
        assert "PHOTOSTREAM_DEV_MODE=true" in str(refused.value)


def test_the_defaults_are_refused_when_the_environment_does_not_say_development(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHOTOSTREAM_DEV_MODE", raising=False)
    with pytest.raises(ValidationError, match="PHOTOSTREAM_JWT_SECRET"):
        Settings(_env_file=None)


def test_development_mode_accepts_the_placeholders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOSTREAM_DEV_MODE", "true")
    assert Settings(_env_file=None).jwt_secret.get_secret_value() == DEV_JWT_SECRET


def test_a_publisher_only_process_needs_no_secret_and_the_api_refuses_to_run_as_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An upstream service that only publishes with the SDK had to be given the API's JWT and S3 secrets (or
    run in development mode) just to build its settings."""
    from typer.testing import CliRunner

    from api.app import create_app
    from photostream.cli import app
    from photostream.settings import get_settings

    monkeypatch.delenv("PHOTOSTREAM_DEV_MODE", raising=False)
    publisher = Settings(_env_file=None, publisher_only=True)
    assert publisher.jwt_secret.get_secret_value() == DEV_JWT_SECRET and not publisher.dev_mode
    with pytest.raises(ValueError, match="PUBLISHER_ONLY"):
        create_app(publisher)
    monkeypatch.setenv("PHOTOSTREAM_PUBLISHER_ONLY", "true")
    get_settings.cache_clear()
    try:
        for command in (["api"], ["worker"], ["token", "someone"]):
            result = CliRunner().invoke(app, command)
            assert result.exit_code == 2 and "PHOTOSTREAM_PUBLISHER_ONLY" in result.output, (command, result.output)
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(("override", "named"), [
    ({"redis_url": "notaurl"}, "redis_url"),
    ({"cassandra_replication": "garbage"}, "cassandra_replication"),
    ({"jwt_algorithm": "RS256", "dev_mode": True}, "PHOTOSTREAM_JWT_PRIVATE_KEY is not set"),  # dev mode too
])
def test_a_setting_no_command_could_use_is_refused_at_start(override: dict, named: str) -> None:
    """Each was a traceback from the first command that used it (rebuild, migrate, token)."""
    with pytest.raises(ValidationError) as refused:
        Settings(**(REAL | override))
    assert named in str(refused.value)
