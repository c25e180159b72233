"""The Kubernetes manifests (deploy/kubernetes) rendered offline as `kubectl apply -k` would (kustomize), every object
validated against the Kubernetes API schemas (kubernetes-validate, strict: an unknown field is an error), then what a
release relies on: each service a Deployment whose probes ask routes its app really serves, requests and limits,
a disruption budget, a Service, its migration Job running a command its image has, settings its code reads, and no
secret value in the repository."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

import aggregator.bootstrap
import orders.bootstrap
import supplier_gateway.bootstrap
from aggregator.config import AggregatorSettings
from dropship_shared.settings import ServiceSettings
from orders.config import OrdersSettings
from supplier_gateway.config import GatewaySettings
from supplier_simulator.app import create_app as create_simulator_app
from supplier_simulator.settings import SimulatorSettings

ROOT = Path(__file__).resolve().parents[3]
MANIFESTS = ROOT / "deploy" / "kubernetes"
KUBECTL = shutil.which("kubectl")
# The oldest Kubernetes still maintained when these were written, and the newest whose schemas the package carries.
KUBERNETES_VERSIONS = ("1.31", latest_version())
OVERLAYS = ("production", "dev")
Manifest = dict[str, Any]


class Service:
    def __init__(self, name: str, module: str, settings: type[ServiceSettings], create_app: Any) -> None:
        self.name, self.module, self.settings, self.create_app = name, module, settings, create_app


SERVICES = {
    service.name: service
    for service in (
        Service("orders", "orders", OrdersSettings, orders.bootstrap.create_app),
        Service("aggregator", "aggregator", AggregatorSettings, aggregator.bootstrap.create_app),
        Service("supplier-gateway", "supplier_gateway", GatewaySettings, supplier_gateway.bootstrap.create_app),
    )
}
# Workers: a Deployment running one part of a service's background work from the service's image and settings.
WORKERS = {"orders-sender": Service("orders", "orders", OrdersSettings, orders.bootstrap.create_sender_app)}
# Variables the Deployments compose DATABASE_URL and AMQP_URL from (base/connections.yaml): no service reads them.
CONNECTION_PARTS = {
    "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_QUERY", "DATABASE_NAME", "DATABASE_USER", "DATABASE_PASSWORD",
    "RABBITMQ_HOST", "RABBITMQ_PORT", "RABBITMQ_VHOST", "AMQP_USER", "AMQP_PASSWORD",
}  # fmt: skip
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|SECRETS_KEY|SESSION_KEY|TOKEN)$")
PLACEHOLDER = "CHANGE_ME"


def is_secrets_file(folder: str, name: str) -> bool:
    return Path(folder).name == "secrets" and name.endswith(".env")


def render(overlay: str, workdir: Path) -> list[Manifest]:
    """`kubectl kustomize` of an overlay, on a copy of the manifests whose Secrets are the committed examples
    (a developer's own secrets/*.env are never read)."""
    if KUBECTL is None:
        pytest.skip("kubectl (with its kustomize) is not installed: the manifests cannot be rendered")
    copy = workdir / "kubernetes"
    shutil.copytree(MANIFESTS, copy, ignore=lambda folder, names: [n for n in names if is_secrets_file(folder, n)])
    for example in (copy / "overlays" / overlay / "secrets").glob("*.env.example"):
        shutil.copy(example, example.with_suffix(""))
    done = subprocess.run(
        [KUBECTL, "kustomize", str(copy / "overlays" / overlay)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return [document for document in yaml.safe_load_all(done.stdout) if document]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[Manifest]]:
    name = str(request.param)
    return name, render(name, tmp_path_factory.mktemp(name))


def of_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {manifest["metadata"]["name"]: manifest for manifest in manifests if manifest["kind"] == kind}


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def container(workload: Manifest) -> Manifest:
    [only] = workload["spec"]["template"]["spec"]["containers"]
    return dict(only)


def environment(manifests: list[Manifest], workload: Manifest) -> dict[str, str]:
    """What the container's environment holds, as the kubelet makes it: envFrom first, then env with $(NAME)
    expanded; a reference to a variable it does not have is left as is, as the kubelet does."""
    config_maps, secrets = of_kind(manifests, "ConfigMap"), of_kind(manifests, "Secret")
    env: dict[str, str] = {}
    for source in container(workload).get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]]["data"])
        else:
            env.update({key: "<secret>" for key in secrets[source["secretRef"]["name"]].get("data", {})})
    for variable in container(workload).get("env", []):
        env[variable["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), variable["value"])
    return env


def services_of(manifests: list[Manifest]) -> dict[str, Manifest]:
    return {name: d for name, d in of_kind(manifests, "Deployment").items() if name in SERVICES}


def app_of(deployment: str, tmp: Path) -> Any:
    """The app in that Deployment's image, made (not started: no broker, database or background work)."""
    if deployment == "supplier-simulator":
        return create_simulator_app(SimulatorSettings(secret="x"))
    service = WORKERS.get(deployment) or SERVICES[deployment]
    return service.create_app(service.settings(database_url=f"sqlite+aiosqlite:///{tmp}/{deployment}.db"))


async def answers(app: Any, path: str) -> int:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pod") as client:
        return (await client.get(path)).status_code


def test_every_object_is_valid_against_the_kubernetes_schemas(overlay: tuple[str, list[Manifest]]) -> None:
    _, manifests = overlay
    errors = []
    for manifest in manifests:
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                errors.append(f"{manifest['kind']}/{manifest['metadata']['name']} on {version}: {error.message}")
    assert not errors, "\n".join(errors)


def test_each_service_is_a_deployment_of_several_replicas_and_the_simulator_only_in_dev(
    overlay: tuple[str, list[Manifest]],
) -> None:
    name, manifests = overlay
    deployments = of_kind(manifests, "Deployment")
    if name == "dev":
        assert set(deployments) == {*SERVICES, *WORKERS, "supplier-simulator"}
    else:
        assert set(deployments) == {*SERVICES, *WORKERS}
        assert all(deployment["spec"]["replicas"] >= 2 for deployment in deployments.values())
        assert all(
            deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
            for deployment in deployments.values()
        )


async def test_probes_ask_paths_the_app_serves_on_its_port(overlay: tuple[str, list[Manifest]], tmp_path: Path) -> None:
    _, manifests = overlay
    for name, deployment in of_kind(manifests, "Deployment").items():
        main = container(deployment)
        ports = {port["name"]: port["containerPort"] for port in main["ports"]}
        app = app_of(name, tmp_path)
        for probe in ("livenessProbe", "readinessProbe"):
            assert probe in main, f"{name} has no {probe}"
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            if probe in main:
                get = main[probe]["httpGet"]
                status = await answers(app, get["path"])  # /readyz of an app not started: 503, served
                assert status not in (404, 405), f"{name}'s {probe} asks {get['path']}, which it does not serve"
                assert get["port"] in ports, f"{name}'s {probe} names no port of its container"
        env = environment(manifests, deployment)
        listening = env.get("HTTP_PORT") or env.get("SIMULATOR_PORT")
        assert listening == str(ports["http"]), f"{name} listens on {listening}, its container port is {ports['http']}"
        if name in SERVICES or name in WORKERS:  # alive: the process answers; ready: its database (and broker)
            pause = main["lifecycle"]["preStop"]["exec"]["command"]
            assert (
                pause[0] == "sleep"
                and int(pause[1]) < deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            ), f"{name}: the pause before SIGTERM must end within the grace period"
            assert (main["livenessProbe"]["httpGet"]["path"], main["readinessProbe"]["httpGet"]["path"]) == (
                "/healthz",
                "/readyz",
            )
            assert main["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_every_container_requests_cpu_and_memory_within_its_limits(overlay: tuple[str, list[Manifest]]) -> None:
    _, manifests = overlay
    workloads = [*of_kind(manifests, "Deployment").values(), *of_kind(manifests, "Job").values()]
    for workload in workloads:
        resources = container(workload)["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), workload["metadata"]["name"]
        assert "memory" in resources["limits"], workload["metadata"]["name"]


def test_a_disruption_budget_and_a_service_select_each_deployments_replicas_only(
    overlay: tuple[str, list[Manifest]],
) -> None:
    _, manifests = overlay
    budgets, services = of_kind(manifests, "PodDisruptionBudget"), of_kind(manifests, "Service")
    job_pods = [job["spec"]["template"]["metadata"]["labels"] for job in of_kind(manifests, "Job").values()]
    for name, deployment in of_kind(manifests, "Deployment").items():
        pods = deployment["spec"]["template"]["metadata"]["labels"]
        assert matches(deployment["spec"]["selector"]["matchLabels"], pods)
        [budget] = [b for b in budgets.values() if matches(b["spec"]["selector"]["matchLabels"], pods)]
        assert budget["spec"].get("maxUnavailable") == 1, f"{name}: one replica at a time may be evicted"
        [service] = [s for s in services.values() if matches(s["spec"]["selector"], pods)]
        assert [port["targetPort"] for port in service["spec"]["ports"]] == ["http"]
        for labels in job_pods:
            assert not matches(budget["spec"]["selector"]["matchLabels"], labels), f"{name}'s budget covers a Job"
            assert not matches(service["spec"]["selector"], labels), f"{name}'s Service sends requests to a Job"


def test_each_release_migrates_each_database_once_with_a_command_its_image_has(
    overlay: tuple[str, list[Manifest]],
) -> None:
    name, manifests = overlay
    deployments, jobs = services_of(manifests), of_kind(manifests, "Job")
    if name == "dev":  # one replica each, migrating as it starts
        assert not jobs
        assert all(environment(manifests, d)["MIGRATE_ON_START"] == "true" for d in deployments.values())
        return
    assert len(jobs) == len(SERVICES)
    for service_name, deployment in deployments.items():
        service, image = SERVICES[service_name], container(deployment)["image"]
        tag = image.rsplit(":", 1)[1]
        job = jobs[f"{service_name}-migrate-{tag}"]  # a new Job per release: a Job cannot be changed once made
        migrate = container(job)
        assert migrate["image"] == image
        assert migrate["command"] == ["python", "-m", service.module, "migrate"]
        dockerfile = (ROOT / "services" / service_name / "Dockerfile").read_text()
        assert f'CMD ["python", "-m", "{service.module}"]' in dockerfile  # the image has the module
        assert (migrate["envFrom"], migrate["env"]) == (container(deployment)["envFrom"], container(deployment)["env"])
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        assert environment(manifests, deployment)["MIGRATE_ON_START"] == "false"


def test_the_migration_command_is_one_the_service_entrypoints_take() -> None:
    """`python -m <module> --help` of each image's module lists `migrate` (tests/integration/deploy/
    test_migrate_command.py runs the command itself against both engines)."""
    helps = {
        name: subprocess.Popen(
            [sys.executable, "-m", service.module, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for name, service in SERVICES.items()
    }
    for name, process in helps.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, f"{name}: {err}"
        assert "migrate" in out, name


def test_every_variable_is_a_setting_of_its_service_and_every_reference_resolves(
    overlay: tuple[str, list[Manifest]],
) -> None:
    _, manifests = overlay
    workloads = [*of_kind(manifests, "Deployment").values(), *of_kind(manifests, "Job").values()]
    for workload in workloads:
        name = workload["metadata"]["labels"]["app.kubernetes.io/name"]
        env = environment(manifests, workload)
        unresolved = {key: value for key, value in env.items() if "$(" in value}
        assert not unresolved, f"{name}: references to variables the container does not have: {unresolved}"
        if name in SERVICES:
            known = {field.upper() for field in SERVICES[name].settings.model_fields} | CONNECTION_PARTS
            assert set(env) <= known, f"{name} does not read {sorted(set(env) - known)}"
            assert env["DATABASE_URL"].startswith("postgresql+asyncpg://<secret>:<secret>@")
            assert env["AMQP_URL"].startswith("amqp://<secret>:<secret>@")
        else:
            prefix = SimulatorSettings.model_config.get("env_prefix", "")
            known = {f"{prefix}{field}".upper() for field in SimulatorSettings.model_fields}
            assert set(env) <= known, f"{name} does not read {sorted(set(env) - known)}"


def test_each_service_reads_its_deployments_environment(
    overlay: tuple[str, list[Manifest]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The values as well as the names: an empty `VAR=` in an env file is what the service then reads."""
    _, manifests = overlay
    for name, deployment in services_of(manifests).items():
        for key, value in environment(manifests, deployment).items():
            monkeypatch.setenv(key, value)
        SERVICES[name].settings()  # a value the setting refuses stops the replica from starting


def test_orders_and_the_aggregator_apply_one_consolation_rule(overlay: tuple[str, list[Manifest]]) -> None:
    _, manifests = overlay
    deployments = services_of(manifests)
    rule = ("CONSOLATION_THRESHOLD_DAYS", "CONSOLATION_PERCENT")
    orders_env, aggregator_env = (environment(manifests, deployments[name]) for name in ("orders", "aggregator"))
    assert [orders_env[key] for key in rule] == [aggregator_env[key] for key in rule]


def test_pods_run_unprivileged_as_the_images_user_and_get_no_service_links(
    overlay: tuple[str, list[Manifest]],
) -> None:
    _, manifests = overlay
    for workload in [*of_kind(manifests, "Deployment").values(), *of_kind(manifests, "Job").values()]:
        name = workload["metadata"]["labels"]["app.kubernetes.io/name"]
        pod = workload["spec"]["template"]["spec"]
        user = re.search(r"^USER (\d+)", (ROOT / "services" / name / "Dockerfile").read_text(), re.MULTILINE)
        assert user is not None, f"{name}'s image needs a numeric USER for runAsNonRoot"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == int(user.group(1))
        assert pod["enableServiceLinks"] is False  # <SERVICE>_PORT variables would reach the settings
        assert pod["automountServiceAccountToken"] is False
        assert container(workload)["securityContext"]["allowPrivilegeEscalation"] is False


def test_no_secret_value_is_in_the_repository(overlay: tuple[str, list[Manifest]]) -> None:
    name, manifests = overlay
    for config_map in of_kind(manifests, "ConfigMap").values():
        secret_looking = [key for key in config_map["data"] if SECRET_NAME.search(key)]
        assert not secret_looking, f"{config_map['metadata']['name']} holds {secret_looking}: they go in a Secret"
    secrets = of_kind(manifests, "Secret")
    for workload in [*of_kind(manifests, "Deployment").values(), *of_kind(manifests, "Job").values()]:
        refs = [source["secretRef"]["name"] for source in container(workload)["envFrom"] if "secretRef" in source]
        assert refs and set(refs) <= set(secrets), f"{workload['metadata']['name']}: no Secret made for {refs}"
    for example in (MANIFESTS / "overlays" / name / "secrets").glob("*.env.example"):
        for line in example.read_text().splitlines():
            key, _, value = line.partition("=")
            if value and SECRET_NAME.search(key):
                assert value == PLACEHOLDER, f"{example.name}: {key} must be a placeholder"
        ignored = subprocess.run(
            ["git", "-C", str(ROOT), "check-ignore", "-q", str(example.with_suffix(""))], check=False
        )
        assert ignored.returncode == 0, f"{example.with_suffix('').name} would be committed"


def test_the_message_sender_runs_the_orders_image_beside_orders_replicas_that_do_not_send(
    overlay: tuple[str, list[Manifest]],
) -> None:
    _, manifests = overlay
    deployments = of_kind(manifests, "Deployment")
    orders, sender = deployments["orders"], deployments["orders-sender"]
    assert container(sender)["image"] == container(orders)["image"]
    assert container(sender)["command"] == ["python", "-m", "orders", "send-messages"]
    assert (container(sender)["envFrom"], container(sender)["env"]) == (
        container(orders)["envFrom"],
        container(orders)["env"],
    )
    assert environment(manifests, orders)["MESSAGE_SENDER"] == "separate"
    assert not matches(orders["spec"]["selector"]["matchLabels"], sender["spec"]["template"]["metadata"]["labels"])
