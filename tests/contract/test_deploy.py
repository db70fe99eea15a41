"""The Kubernetes base (deploy/base) read as data: every service deployed with probes on the
conventional endpoints and port, every file listed in the kustomization."""

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from appariement.common.settings import BaseServiceSettings

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "base"
PORTS = {
    "identity": 8001,
    "campaign": 8002,
    "candidature": 8003,
    "matching": 8004,
    "notification": 8005,
    "support": 8006,
}


def _documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(BASE.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _documents() if d["kind"] == kind}


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


@pytest.mark.parametrize("name", sorted(PORTS))
def test_service_deployment_probes_readyz_and_healthz_on_its_port(name: str) -> None:
    deployment = _by_kind("Deployment")[name]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    # Where workers run in their own Deployment, the API one runs the API alone.
    split = f"{name}-workers" in _by_kind("Deployment")
    assert container["args"] == ["python", "-m", f"appariement.{name}"] + (
        ["--only", "api"] if split else []
    )
    assert container["ports"] == [{"name": "http", "containerPort": PORTS[name]}]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e for e in container["env"]}
    assert env["HTTP_PORT"]["value"] == str(PORTS[name])
    assert env["DATABASE_SCHEMA"]["value"] == name
    assert "secretKeyRef" in env["DATABASE_URL"]["valueFrom"]
    service = _by_kind("Service")[name]
    assert service["spec"]["ports"][0]["port"] == PORTS[name]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("name", ["matching", "notification"])
def test_workers_run_apart_and_answer_the_probes_on_their_port(name: str) -> None:
    container = _by_kind("Deployment")[f"{name}-workers"]["spec"]["template"]["spec"]["containers"][
        0
    ]
    assert container["args"] == ["python", "-m", f"appariement.{name}", "--only", "workers"]
    assert container["ports"] == [{"name": "http", "containerPort": PORTS[name]}]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e for e in container["env"]}
    assert env["DATABASE_SCHEMA"]["value"] == name
    assert env["HTTP_PORT"]["value"] == str(PORTS[name])


def test_shared_config_is_production_and_holds_no_secret() -> None:
    config = _by_kind("ConfigMap")["appariement-config"]["data"]
    assert config["ENVIRONMENT"] == "production"
    assert config["LOG_FORMAT"] == "json"
    assert not {"DATABASE_URL", "JWT_PUBLIC_KEY"} & set(config)


# What the referenced Secrets hold in a real cluster (sample values, not secrets).
SAMPLE_SECRETS = {
    ("appariement-database", "url"): "postgresql://appariement:s3cr3t-Only-In-Vault@pg:5432/app",
    ("appariement-jwt", "JWT_PUBLIC_KEY"): (
        "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----"
    ),
}


def _container_environment(container: dict[str, Any]) -> dict[str, str]:
    """The environment the pod gets: envFrom sources first, then env entries (k8s order)."""
    configmaps = {name: d["data"] for name, d in _by_kind("ConfigMap").items()}
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            environment |= configmaps[source["configMapRef"]["name"]]
        else:
            secret = source["secretRef"]["name"]
            environment |= {key: v for (name, key), v in SAMPLE_SECRETS.items() if name == secret}
    for entry in container.get("env", []):
        if "value" in entry:
            environment[entry["name"]] = str(entry["value"])
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            environment[entry["name"]] = SAMPLE_SECRETS[(ref["name"], ref["key"])]
    return environment


@pytest.mark.parametrize(
    "deployment",
    [*sorted(PORTS), "matching-workers", "notification-workers"],
)
def test_pod_environment_passes_the_production_settings_checks(
    deployment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = _by_kind("Deployment")[deployment]["spec"]["template"]["spec"]["containers"][0]
    service = container["args"][2].removeprefix("appariement.")
    monkeypatch.setenv("APPARIEMENT_STACK_ENV", "")
    for key, value in _container_environment(container).items():
        monkeypatch.setenv(key, value)
    settings_class: type[BaseServiceSettings] = importlib.import_module(
        f"appariement.{service}.config"
    ).Settings
    settings = settings_class()  # raises UnsafeSettingsError if production would refuse it
    assert settings.environment == "production"
    assert settings.database_schema == service
    assert settings.http_host == "0.0.0.0"
    if "ports" in container:
        assert settings.http_port == container["ports"][0]["containerPort"]
