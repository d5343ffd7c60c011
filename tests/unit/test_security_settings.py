"""Issue 15, points 10-12: the Secure cookie default, minimum secret strength and a private
state directory and SQLite file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from line311.config import Settings
from line311.db.engine import engine_from_settings, make_engine


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("crm_api_key", "abc"),
        ("agent_password", "1111"),
        ("dashboard_secret", "k" * 40),
        ("caller_hash_key", "abababababababababab"),
        ("callback_contact_key", "changeme"),
        ("crm_webhook_secret", "short-but-mixed"),
        ("ari_password", "changeme"),
        ("redis_password", "password"),
        ("redis_sentinel_password", "secret12"),
    ],
)
def test_a_weak_secret_is_refused_naming_the_setting(
    tmp_path: Path, field: str, value: str
) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(state_dir=tmp_path, **{field: SecretStr(value)})


def test_generated_and_long_mixed_secrets_are_accepted(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path,
        crm_api_key=SecretStr("test-key-0123456789abcdef"),
        agent_password=SecretStr("Tr0ub4dor&3-horse"),
    ).with_generated_secrets()
    assert len(settings.dashboard_secret.get_secret_value()) >= 16
    assert len(settings.callback_contact_key.get_secret_value()) >= 16


def test_the_redis_password_is_generated_once_and_the_sentinels_need_none(
    tmp_path: Path,
) -> None:
    first = Settings(state_dir=tmp_path).with_generated_secrets()
    password = first.redis_password.get_secret_value()
    assert len(password) >= 16
    assert f'redis_password = "{password}"' in (tmp_path / "secrets.toml").read_text()
    again = Settings(state_dir=tmp_path).with_generated_secrets()
    assert again.redis_password.get_secret_value() == password  # every process: the same
    assert again.redis_sentinel_password.get_secret_value() == ""  # optional: not generated
    assert again.redis_username == ""


def test_given_an_older_secrets_file_then_the_redis_password_is_added(tmp_path: Path) -> None:
    (tmp_path / "secrets.toml").write_text('ari_password = "Tr0ub4dor&3-horse-x"\n')
    settings = Settings(state_dir=tmp_path).with_generated_secrets()
    assert settings.ari_password.get_secret_value() == "Tr0ub4dor&3-horse-x"
    assert len(settings.redis_password.get_secret_value()) >= 16


@pytest.mark.parametrize(
    ("host", "secure"),
    [("127.0.0.1", False), ("::1", False), ("localhost", False), ("0.0.0.0", True),
     ("10.1.2.3", True)],
)  # fmt: skip
def test_the_session_cookie_is_secure_by_default_off_loopback(
    tmp_path: Path, host: str, secure: bool
) -> None:
    assert Settings(state_dir=tmp_path, http_host=host).effective_secure_cookie is secure
    forced = Settings(state_dir=tmp_path, http_host=host, dashboard_secure_cookie=True)
    assert forced.effective_secure_cookie is True


def test_the_dashboard_idle_timeout_defaults_to_15_minutes_and_is_0_or_at_least_60(
    tmp_path: Path,
) -> None:
    assert Settings(state_dir=tmp_path).dashboard_idle_timeout == 900
    assert Settings(state_dir=tmp_path, dashboard_idle_timeout=0).dashboard_idle_timeout == 0
    assert Settings(state_dir=tmp_path, dashboard_idle_timeout=60).dashboard_idle_timeout == 60
    for bad in (-1, 30, 86401):
        with pytest.raises(ValidationError, match="dashboard_idle_timeout"):
            Settings(state_dir=tmp_path, dashboard_idle_timeout=bad)


def test_the_state_dir_and_sqlite_file_are_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    engine = engine_from_settings(Settings(state_dir=state))
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "line311.db").stat().st_mode) == 0o600


def test_an_existing_readable_sqlite_file_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "other" / "x.db"
    db.parent.mkdir()
    db.touch(mode=0o644)
    db.chmod(0o644)
    make_engine(f"sqlite:///{db}").dispose()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_engines_hide_statement_parameters(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        assert engine.hide_parameters is True
    finally:
        engine.dispose()
