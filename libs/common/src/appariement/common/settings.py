"""The settings every service shares, read once at start from the environment.

Sources, strongest first: keyword arguments, environment variables, a `.env` file when one
is passed, then the stack's `var/stack.env` (written by `python -m appariement.common.stack`,
so a service started by hand finds the embedded servers). Outside `dev`/`test` the class
refuses unsafe values (no JWT key, wildcard CORS, development defaults, weak database
passwords) with one error listing every problem, so a misconfigured deployment fails at start
rather than at the first request. Each service subclasses it and sets its own name and port:

    class Settings(BaseServiceSettings):
        service_name: str = "candidature"
        http_port: int = 8003
"""

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

STACK_ENV_VARIABLE = "APPARIEMENT_STACK_ENV"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:9092"
WEAK_PASSWORDS = frozenset(
    {"", "postgres", "password", "changethis", "changeme", "secret", "admin"}
)
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

Environment = Literal["dev", "test", "production"]
LogFormat = Literal["json", "console"]


class UnsafeSettingsError(RuntimeError):
    """Raised at start when production settings keep a development default (not a
    ValueError, so pydantic does not wrap it with the input values, which hold secrets)."""


def find_stack_env(
    start: Path | None = None, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The stack env file: `$APPARIEMENT_STACK_ENV` if set (empty = none), else (unless
    `ENVIRONMENT=production`) the first `var/stack.env` found walking up from `start` (the
    cwd), stopping at the repository root."""
    environ = os.environ if environ is None else environ
    explicit = environ.get(STACK_ENV_VARIABLE)
    if explicit is not None:
        if not explicit:
            return None
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"{STACK_ENV_VARIABLE}={explicit}: no such file")
        return path
    if environ.get("ENVIRONMENT", "").strip().lower() == "production":
        return None  # a production service never picks up a developer's stack by accident
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / "var" / "stack.env"
        if candidate.is_file():
            return candidate
        if (directory / ".git").exists():
            break
    return None


class BaseServiceSettings(BaseSettings):
    """Shared settings; environment variable names are the field names in upper case."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    service_name: str = "appariement"
    environment: Environment = "dev"

    database_url: str = DEFAULT_DATABASE_URL
    database_schema: str = Field(default="", description="defaults to the service name")
    database_pool_min_size: int = Field(default=1, ge=0)
    database_pool_max_size: int = Field(default=10, ge=1)

    kafka_bootstrap_servers: str = DEFAULT_KAFKA_BOOTSTRAP_SERVERS
    # Real Kafka wants it on; the embedded broker (Tansu) refuses it and stack.env says false.
    kafka_enable_idempotence: bool = True
    kafka_session_timeout_ms: int = Field(default=10_000, ge=100)

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    maildir: Path | None = None

    http_host: str = "127.0.0.1"
    http_port: int = 8000

    log_format: LogFormat = Field(default="console", description="console in dev, else json")
    log_level: str = "INFO"

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str = "appariement-identity"
    jwt_audience: str = "appariement"
    jwt_leeway_seconds: int = Field(default=30, ge=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings, dotenv_settings]
        stack_env = find_stack_env()
        if stack_env is not None:
            sources.append(DotEnvSettingsSource(settings_cls, env_file=stack_env))
        return (*sources, file_secret_settings)

    @model_validator(mode="before")
    @classmethod
    def _derived_defaults(cls, data: Any) -> Any:
        """`database_schema` follows the service name, `log_format` the environment."""
        if not isinstance(data, dict):
            return data
        if not data.get("database_schema"):
            data["database_schema"] = data.get("service_name") or cls.model_fields[
                "service_name"
            ].get_default(call_default_factory=True)
        if not data.get("log_format"):
            environment = data.get("environment") or cls.model_fields["environment"].default
            data["log_format"] = "console" if environment == "dev" else "json"
        return data

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        """`CORS_ORIGINS` as JSON (`["https://a"]`) or comma-separated (`https://a,https://b`)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("jwt_public_key", "jwt_jwks_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        """A PEM in one env line may carry literal `\\n`; an empty value means unset."""
        if isinstance(value, str):
            value = value.replace("\\n", "\n").strip()
            return value or None
        return value

    @field_validator("database_schema")
    @classmethod
    def _schema_is_identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError(f"{value!r} is not a lowercase SQL identifier ([a-z_][a-z0-9_]*)")
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_outside_dev(self) -> "BaseServiceSettings":
        if self.environment in ("dev", "test"):
            return self
        problems = self.unsafe_settings()
        if problems:
            listing = "\n".join(f"  - {problem}" for problem in problems)
            raise UnsafeSettingsError(
                f"{self.service_name}: unsafe settings for environment "
                f"{self.environment!r}:\n{listing}"
            )
        return self

    def unsafe_settings(self) -> list[str]:
        """What makes these settings unfit for production; subclasses extend the list
        (`return [*super().unsafe_settings(), ...]`) for their own secrets."""
        problems: list[str] = []
        if not self.jwt_public_key and not self.jwt_jwks_url:
            problems.append("set JWT_PUBLIC_KEY or JWT_JWKS_URL (tokens cannot be verified)")
        if "*" in self.cors_origins:
            problems.append("CORS_ORIGINS must list origins, not '*'")
        if self.database_url == DEFAULT_DATABASE_URL:
            problems.append("DATABASE_URL is the development default (localhost)")
        elif (urlsplit(self.database_url).password or "") in WEAK_PASSWORDS:
            problems.append("DATABASE_URL has an empty or well-known password")
        if self.kafka_bootstrap_servers == DEFAULT_KAFKA_BOOTSTRAP_SERVERS:
            problems.append("KAFKA_BOOTSTRAP_SERVERS is the development default (localhost)")
        if self.log_format != "json":
            problems.append("LOG_FORMAT must be json (log collectors parse it)")
        return problems


__all__ = [
    "STACK_ENV_VARIABLE",
    "BaseServiceSettings",
    "Environment",
    "LogFormat",
    "UnsafeSettingsError",
    "find_stack_env",
]
