"""The Prometheus alert rules (deploy/prometheus) and the Grafana dashboard (deploy/grafana) are checked: every
metric they query is one the running services export (read from their /metrics), every expression reads as
PromQL, each alert says how severe it is, how long it must hold and what to do (and the docs explain it), the
dashboard is valid JSON with unique panel ids. Where promtool is installed (`make promtool`), it checks the
rules, the example configuration, the rules' unit tests and every dashboard query with Prometheus's own parser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from aggregator.bootstrap import create_app as create_aggregator
from aggregator.config import AggregatorSettings
from orders.bootstrap import create_app as create_orders
from orders.config import OrdersSettings
from supplier_gateway.bootstrap import create_app as create_gateway
from supplier_gateway.config import GatewaySettings
from support.infrastructure import BrokerNamespace
from support.metrics import Scrape, scraped_until
from support.promql import PromQLError, metric_names
from support.servers import run_uvicorn_app

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dropship.json"
DOCS = ROOT / "docs" / "metrics.md"
PROMTOOL = shutil.which("promtool")
BUILT_IN = {"up"}  # series Prometheus makes itself for each target
# Grafana's variables, as Prometheus would receive them once Grafana filled them in
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "6h", "$supplier": ".*"}


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    found: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return found


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those nested in collapsed rows too."""
    return [inner for panel in board["panels"] for inner in [panel, *panel.get("panels", [])]]


def dashboard_queries() -> list[str]:
    """Every query of the dashboard (panels and variables), with Grafana's variables filled in."""
    board = dashboard()
    found = [target["expr"] for panel in panels(board) for target in panel.get("targets", [])]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            found.append(variable["definition"])
    filled = []
    for query in found:
        for variable, value in GRAFANA_VARIABLES.items():
            query = query.replace(variable, value)
        filled.append(query)
    return filled


@pytest.fixture
async def exported_names(tmp_path: Path, broker_namespace: BrokerNamespace) -> AsyncIterator[set[str]]:
    """The series names the three services' /metrics export, each started for real (SQLite, the broker),
    scraped once every scrape-time source answered (a failed source leaves its figures out)."""
    common: dict[str, Any] = {
        "amqp_url": broker_namespace.amqp_url,
        "exchange": broker_namespace.exchange,
        "queue_prefix": f"{broker_namespace.prefix}.",
        "log_json": False,
        "log_level": "WARNING",
    }
    for service in ("orders", "aggregator", "supplier-gateway"):
        broker_namespace.queue(service)
    database = f"sqlite+aiosqlite:///{tmp_path}"
    names: set[str] = set()
    with (
        run_uvicorn_app(create_orders(OrdersSettings(database_url=f"{database}/o.db", **common))) as orders,
        run_uvicorn_app(create_aggregator(AggregatorSettings(database_url=f"{database}/a.db", **common))) as aggregator,
        run_uvicorn_app(create_gateway(GatewaySettings(database_url=f"{database}/g.db", **common))) as gateway,
    ):
        for url in (orders, aggregator, gateway):
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                scrape = await scraped_until(client, every_source_answered)
                names.update(scrape.names())
        yield names


def every_source_answered(scrape: Scrape) -> bool:
    sources = [labels for name, labels, _ in scrape.samples if name == "metrics_source_up"]
    return len(sources) >= 2 and all(scrape.value("metrics_source_up", **labels) == 1 for labels in sources)


def test_every_metric_the_rules_and_the_dashboard_query_is_exported_by_the_services(exported_names: set[str]) -> None:
    wanted: dict[str, set[str]] = {}
    for rule in alert_rules():
        for name in metric_names(rule["expr"]):
            wanted.setdefault(name, set()).add(f"alert {rule['alert']}")
    for query in dashboard_queries():
        for name in metric_names(query):
            wanted.setdefault(name, set()).add("dashboard")
    unknown = {name: users for name, users in wanted.items() if name not in exported_names | BUILT_IN}
    assert not unknown, f"queried but not exported: {unknown}"
    # what the issue asks operations to see is both exported and used
    for name in (
        "supplier_pending_units",
        "supplier_oldest_pending_line_age_seconds",
        "purchase_orders",
        "supplier_call_duration_seconds_bucket",
        "supplier_call_errors_total",
        "supplier_circuit_state",
        "outbox_oldest_pending_age_seconds",
        "outbox_pending",
        "consumer_queue_depth",
        "events_redelivered_total",
        "dead_letter_queue_depth",
        "events_dead_lettered_total",
        "supplier_exceptions_open",
        "broker_connected",
    ):
        assert name in exported_names and name in wanted, name


def test_what_an_alert_watches_is_on_the_dashboard() -> None:
    alerted = {name for rule in alert_rules() for name in metric_names(rule["expr"])}
    shown = {name for query in dashboard_queries() for name in metric_names(query)}
    assert alerted <= shown, f"alerted on but not on the dashboard: {alerted - shown}"


def test_the_promql_reader_finds_names_and_refuses_what_is_not_promql() -> None:
    expr = 'sum by (supplier_id, le) (rate(supplier_call_duration_seconds_bucket{kind!="x"}[5m])) / on (a) b_total'
    assert metric_names(expr) == {"supplier_call_duration_seconds_bucket", "b_total"}
    assert metric_names("max(x) > 3 * 86400 and y offset 5m") == {"x", "y"}
    for broken in ("sum(rate(x[5m])", "rat(x[5m])", "x{a=1", ""):
        with pytest.raises(PromQLError):
            metric_names(broken)


def test_every_alert_has_a_severity_a_duration_a_summary_and_a_runbook_explained_in_the_docs() -> None:
    rules = alert_rules()
    assert len(rules) >= 10
    docs = DOCS.read_text()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), "alert names repeat"
    for rule in rules:
        metric_names(rule["expr"])  # reads as PromQL
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert re.fullmatch(r"\d+[smhd]", rule["for"]), rule["alert"]
        assert rule["annotations"]["summary"] and len(rule["annotations"]["runbook"]) > 40, rule["alert"]
        assert f"`{rule['alert']}`" in docs, f"{rule['alert']} is not explained in docs/metrics.md"


def test_the_dashboard_is_grafana_json_with_unique_panel_ids_and_a_query_in_every_panel() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    every = panels(board)
    ids = [panel["id"] for panel in every]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    variables = {variable["name"] for variable in board["templating"]["list"]}
    for panel in every:
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24 and position["h"] > 0, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["targets"] and panel["title"] and panel["description"], panel["title"]
        assert panel["datasource"]["uid"].strip("${}") in variables
        for target in panel["targets"]:
            metric_names(target["expr"])
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]


def test_the_kubernetes_scrape_example_in_the_docs_names_the_job_the_rules_group_by() -> None:
    (block,) = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    (job,) = yaml.safe_load(block)
    relabels = {rule.get("target_label"): rule for rule in job["relabel_configs"]}
    assert relabels["job"]["source_labels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
    assert "instance" in relabels and "__address__" in relabels
    services = {"orders", "aggregator", "supplier-gateway"}
    kept = next(rule for rule in job["relabel_configs"] if rule.get("regex", "").startswith("orders"))
    assert set(kept["regex"].split("|")) == services
    for name in services:  # the labels the manifests put on each pod
        manifest = ROOT / "deploy" / "kubernetes" / "base" / f"{name}.yaml"
        if manifest.exists():
            assert f"app.kubernetes.io/name: {name}" in manifest.read_text()
            assert 'prometheus.io/scrape: "true"' in manifest.read_text()


needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (make promtool)")


def promtool(*args: str, cwd: Path = PROMETHEUS) -> str:
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@needs_promtool
def test_promtool_checks_the_rules_the_configuration_and_the_rules_unit_tests() -> None:
    assert f"SUCCESS: {len(alert_rules())} rules found" in promtool("check", "rules", "alerts.yml")
    promtool("check", "config", "prometheus.yml")
    promtool("test", "rules", "alerts_test.yml")


@needs_promtool
def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    """Each query becomes a recording rule, which promtool parses as Prometheus would."""
    queries = [query for query in dashboard_queries() if not query.startswith("label_values(")]
    rules = {
        "groups": [
            {"name": "dashboard", "rules": [{"record": f"dashboard:q{n}", "expr": q} for n, q in enumerate(queries)]}
        ]
    }
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump(rules))
    assert f"SUCCESS: {len(queries)} rules found" in promtool("check", "rules", "dashboard.yml", cwd=tmp_path)
