"""Settings: environment over stack env file over defaults; unsafe production values refused."""

from pathlib import Path

import pytest

from appariement.common.settings import (
    STACK_ENV_VARIABLE,
    BaseServiceSettings,
    UnsafeSettingsError,
    find_stack_env,
)
from appariement.common.testing.tokens import public_key_pem


class CandidatureSettings(BaseServiceSettings):
    service_name: str = "candidature"
    http_port: int = 8003


PRODUCTION = {
    "environment": "production",
    "database_url": "postgresql://candidature:S3cure-Pw@db.internal:5432/appariement",
    "kafka_bootstrap_servers": "kafka-1:9092,kafka-2:9092",
    "jwt_jwks_url": "http://identity:8001/.well-known/jwks.json",
    "cors_origins": ["https://appariement.example.fr"],
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting leaks in from the developer's shell, CI or a `var/stack.env`."""
    for name in BaseServiceSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv(STACK_ENV_VARIABLE, "")


def write_stack_env(path: Path, **values: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# test\n" + "".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/x")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    monkeypatch.setenv("KAFKA_ENABLE_IDEMPOTENCE", "false")
    monkeypatch.setenv("SMTP_PORT", "2525")
    monkeypatch.setenv("HTTP_PORT", "9003")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")

    settings = CandidatureSettings()

    assert settings.database_url == "postgresql://u:p@db:5432/x"
    assert settings.kafka_bootstrap_servers == "broker:9092"
    assert settings.kafka_enable_idempotence is False
    assert settings.smtp_port == 2525
    assert settings.http_port == 9003
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_cors_origins_accept_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", '["https://a.example"]')
    assert CandidatureSettings().cors_origins == ["https://a.example"]


def test_service_defaults_come_from_the_subclass() -> None:
    settings = CandidatureSettings()
    assert settings.http_port == 8003
    assert settings.database_schema == "candidature"
    assert settings.environment == "dev"
    assert settings.log_format == "console"
    assert settings.kafka_enable_idempotence is True


def test_log_format_is_json_outside_dev() -> None:
    assert CandidatureSettings(environment="test").log_format == "json"
    assert CandidatureSettings(environment="test", log_format="console").log_format == "console"


def test_stack_env_file_is_read_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = write_stack_env(
        tmp_path / "stack.env",
        DATABASE_URL="postgresql://postgres@127.0.0.1:54321/postgres",
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:19092",
        KAFKA_ENABLE_IDEMPOTENCE="false",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT="10025",
        MAILDIR=str(tmp_path / "mail"),
    )
    monkeypatch.setenv(STACK_ENV_VARIABLE, str(env_file))
    monkeypatch.setenv("SMTP_PORT", "2626")

    settings = CandidatureSettings()

    assert settings.database_url == "postgresql://postgres@127.0.0.1:54321/postgres"
    assert settings.kafka_bootstrap_servers == "127.0.0.1:19092"
    assert settings.kafka_enable_idempotence is False
    assert settings.maildir == tmp_path / "mail"
    assert settings.smtp_port == 2626  # the environment beats the file


def test_stack_env_is_found_walking_up_to_the_repository_root(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    env_file = write_stack_env(repo / "var" / "stack.env", SMTP_PORT="1")
    deep = repo / "services" / "identity" / "src"
    deep.mkdir(parents=True)

    assert find_stack_env(deep, environ={}) == env_file


def test_stack_env_search_stops_at_the_repository_root(tmp_path: Path) -> None:
    write_stack_env(tmp_path / "var" / "stack.env", SMTP_PORT="1")  # outside the repository
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)

    assert find_stack_env(repo, environ={}) is None


def test_production_does_not_look_for_a_stack_env(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    env_file = write_stack_env(repo / "var" / "stack.env", SMTP_PORT="1")

    assert find_stack_env(repo, environ={"ENVIRONMENT": "production"}) is None
    explicit = {"ENVIRONMENT": "production", STACK_ENV_VARIABLE: str(env_file)}
    assert find_stack_env(repo, environ=explicit) == env_file


def test_explicit_stack_env_must_exist(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="APPARIEMENT_STACK_ENV"):
        find_stack_env(environ={STACK_ENV_VARIABLE: str(tmp_path / "missing.env")})
    assert find_stack_env(tmp_path, environ={STACK_ENV_VARIABLE: ""}) is None


def test_production_settings_with_real_values_start() -> None:
    settings = CandidatureSettings(**PRODUCTION)
    assert settings.log_format == "json"
    assert settings.database_schema == "candidature"


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ({"jwt_jwks_url": None}, "JWT_PUBLIC_KEY or JWT_JWKS_URL"),
        ({"cors_origins": ["*"]}, "CORS_ORIGINS"),
        ({"database_url": "postgresql://postgres@127.0.0.1:5432/postgres"}, "DATABASE_URL"),
        ({"database_url": "postgresql://app:postgres@db:5432/x"}, "well-known password"),
        ({"database_url": "postgresql://app@db:5432/x"}, "well-known password"),
        ({"kafka_bootstrap_servers": "127.0.0.1:9092"}, "KAFKA_BOOTSTRAP_SERVERS"),
        ({"log_format": "console"}, "LOG_FORMAT"),
    ],
)
def test_production_refuses_unsafe_values(override: dict[str, object], complaint: str) -> None:
    with pytest.raises(UnsafeSettingsError, match=complaint) as caught:
        CandidatureSettings(**{**PRODUCTION, **override})
    assert "S3cure-Pw" not in str(caught.value)  # the error never echoes a secret


def test_production_lists_every_problem_at_once() -> None:
    with pytest.raises(UnsafeSettingsError) as caught:
        CandidatureSettings(environment="production", cors_origins=["*"])
    message = str(caught.value)
    for complaint in ("JWT_PUBLIC_KEY", "CORS_ORIGINS", "DATABASE_URL", "KAFKA_BOOTSTRAP"):
        assert complaint in message


def test_dev_and_test_accept_the_defaults() -> None:
    assert CandidatureSettings(environment="dev", cors_origins=["*"]).jwt_public_key is None
    assert CandidatureSettings(environment="test").database_schema == "candidature"


def test_a_service_adds_its_own_unsafe_values() -> None:
    class IdentitySettings(BaseServiceSettings):
        service_name: str = "identity"
        signing_key: str = "dev-only"

        def unsafe_settings(self) -> list[str]:
            problems = super().unsafe_settings()
            if self.signing_key == "dev-only":
                problems.append("SIGNING_KEY is the development key")
            return problems

    with pytest.raises(UnsafeSettingsError, match="SIGNING_KEY"):
        IdentitySettings(**PRODUCTION)
    assert IdentitySettings(**PRODUCTION, signing_key="real").signing_key == "real"


def test_public_key_may_come_in_one_env_line(monkeypatch: pytest.MonkeyPatch) -> None:
    pem = public_key_pem()
    monkeypatch.setenv("JWT_PUBLIC_KEY", pem.replace("\n", "\\n"))
    assert CandidatureSettings().jwt_public_key == pem.strip()


def test_schema_must_be_an_identifier() -> None:
    with pytest.raises(ValueError, match="identifier"):
        CandidatureSettings(database_schema="drop table; --")
