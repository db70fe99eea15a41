"""docker-compose.yml cannot be run here (no Docker engine): these tests keep it correct by
reading it — every service buildable, wired to healthy dependencies, and configured with
settings that production start-up accepts."""

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from appariement.common.settings import BaseServiceSettings

ROOT = Path(__file__).resolve().parents[2]
PORTS = {
    "identity": 8001,
    "campaign": 8002,
    "candidature": 8003,
    "matching": 8004,
    "notification": 8005,
    "support": 8006,
}
BACKING = {"postgres", "kafka", "mailpit"}
_VARIABLE = re.compile(r"\$\{([A-Z_]+)(?::[-?][^}]*)?\}")
SAMPLE_SECRETS = {
    "POSTGRES_PASSWORD": "s3cr3t-Only-In-Vault",
    "JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA\\n-----END PUBLIC KEY-----",
    "CORS_ORIGINS": "https://appariement.example.fr",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def _interpolate(value: str) -> str:
    return _VARIABLE.sub(lambda m: SAMPLE_SECRETS[m.group(1)], value)


def test_every_platform_service_and_backing_server_is_declared(compose: dict[str, Any]) -> None:
    assert set(PORTS) | BACKING <= set(compose["services"])


@pytest.mark.parametrize("name", sorted(PORTS))
def test_service_builds_from_its_dockerfile_and_runs_its_module(
    compose: dict[str, Any], name: str
) -> None:
    service = compose["services"][name]
    dockerfile = ROOT / service["build"]["dockerfile"]
    assert service["build"]["context"] == "."
    assert dockerfile.is_file()
    text = dockerfile.read_text()
    for source in re.findall(r"^COPY (\S+) ", text, flags=re.MULTILINE):
        assert (ROOT / source).exists(), f"{dockerfile}: COPY {source} does not exist"
    assert f'"appariement.{name}"' in text
    assert service["command"] == ["python", "-m", f"appariement.{name}"]


@pytest.mark.parametrize("name", sorted(PORTS))
def test_service_waits_for_healthy_dependencies_and_has_a_healthcheck(
    compose: dict[str, Any], name: str
) -> None:
    service = compose["services"][name]
    assert {dep: cond["condition"] for dep, cond in service["depends_on"].items()} == dict.fromkeys(
        BACKING, "service_healthy"
    )
    for dep in BACKING:
        assert "healthcheck" in compose["services"][dep], f"{dep} has no healthcheck"
    port = PORTS[name]
    assert f"{port}/readyz" in " ".join(service["healthcheck"]["test"])
    assert service["ports"] == [f"{port}:{port}"]
    assert service["environment"]["HTTP_PORT"] == str(port)


@pytest.mark.parametrize("name", sorted(PORTS))
def test_service_environment_passes_the_production_settings_checks(
    compose: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = {
        k: _interpolate(str(v)) for k, v in compose["services"][name]["environment"].items()
    }
    assert environment["DATABASE_URL"].startswith("postgresql://")
    assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert environment["DATABASE_SCHEMA"] == name
    monkeypatch.setenv("APPARIEMENT_STACK_ENV", "")
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    settings_class: type[BaseServiceSettings] = importlib.import_module(
        f"appariement.{name}.config"
    ).Settings
    settings = settings_class()  # raises UnsafeSettingsError if production would refuse it
    assert settings.environment == "production"
    assert settings.http_port == PORTS[name]
    assert settings.kafka_enable_idempotence is True


def test_matching_workers_scale_out_and_keep_the_image_health_check(
    compose: dict[str, Any],
) -> None:
    workers = compose["services"]["matching-workers"]
    assert workers["command"][-2:] == ["--only", "workers"]
    assert workers["image"] == compose["services"]["matching"]["image"]
    assert workers["environment"]["DATABASE_SCHEMA"] == "matching"
    # The image checks /healthz on 8004; a workers-only process serves it there too.
    assert workers["environment"]["HTTP_PORT"] == "8004"
    assert not workers.get("healthcheck", {}).get("disable", False)


@pytest.mark.parametrize("name", sorted(PORTS))
def test_dockerfile_runs_as_a_user_and_checks_health_on_its_port(name: str) -> None:
    text = (ROOT / "services" / name / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert re.search(r"^USER (?!root)\S+", text, flags=re.MULTILINE)
    assert f"127.0.0.1:{PORTS[name]}/healthz" in text
    assert f"HTTP_PORT={PORTS[name]}" in text


def test_build_context_leaves_out_the_venv_and_local_data() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", "var", ".git"} <= ignored


def test_kafka_runs_kraft_and_keeps_its_log_on_the_volume(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    environment = kafka["environment"]
    assert set(environment["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "ZOOKEEPER" not in " ".join(environment)
    # Topics are declared in one registry and created at start-up, never auto-created.
    assert environment["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    mounts = {volume.split(":", 1)[1] for volume in kafka["volumes"]}
    assert environment["KAFKA_LOG_DIRS"] in mounts
