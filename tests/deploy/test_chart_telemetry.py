"""The chart's telemetry: metrics ports, the ServiceMonitor, the alert rules, the Grafana dashboard and
the tracing settings, rendered with `helm template`.

Alert and panel queries are parsed with a real PromQL parser (promtool is not available here), and
every metric they name must exist in a live scrape of the session's real mesh: a rule about a metric
nobody exports would never fire.
"""

from __future__ import annotations

import json
from typing import Any

import promql_parser
import pytest
import yaml

from services.runtime.config import TelemetrySettings
from services.runtime.topology import METRICS_PORTS, SERVICE_NAMES
from tests.deploy.test_chart import COMPONENTS, RELEASE, Rendered, container, selects, template
from tests.support.mesh import Mesh
from tests.support.metrics import scrape

ENABLED = [
    "--set",
    "telemetry.metrics.serviceMonitor.enabled=true",
    "--set",
    "telemetry.metrics.prometheusRule.enabled=true",
    "--set",
    "telemetry.metrics.dashboard.enabled=true",
]
ALERTS = {
    "ShutterRpcErrorRatio",
    "ShutterRpcP99High",
    "ShutterConsumerLag",
    "ShutterOutboxStuck",
    "ShutterPostToFeedSlow",
    "ShutterDeadLetters",
}


def render(*extra: str) -> Rendered:
    result = template([], *extra)
    assert result.returncode == 0, result.stderr
    return Rendered([doc for doc in yaml.safe_load_all(result.stdout) if doc])


@pytest.fixture(scope="module")
def everything() -> Rendered:
    return render(*ENABLED)


def config_map(rendered: Rendered) -> dict[str, str]:
    return rendered.named("ConfigMap", f"{RELEASE}-config")["data"]


def metric_names(expression: str) -> set[str]:
    """The metrics a PromQL expression selects; raises ValueError when it does not parse."""
    names: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expression), visit)
    return names


def test_metric_names_come_from_a_real_parse() -> None:
    assert metric_names('sum by (le) (rate(a_bucket{x="1"}[5m])) / on() b > 0.1') == {"a_bucket", "b"}
    with pytest.raises(ValueError):
        metric_names("sum(rate(a[5m])")


def test_every_component_serves_metrics_on_a_port_named_metrics(everything: Rendered) -> None:
    settings = TelemetrySettings.from_env(config_map(everything))
    workloads = everything.workloads()
    for name in COMPONENTS:
        ports = {p["name"]: p["containerPort"] for p in container(workloads[name])["ports"]}
        assert ports["metrics"] == METRICS_PORTS[name], name
        # The process reads the same port from the ConfigMap.
        assert settings.metrics_ports[name] == METRICS_PORTS[name], name
    services = {doc["metadata"]["name"]: doc for doc in everything.of_kind("Service")}
    for name in COMPONENTS:
        ports = {p["name"]: p for p in services[f"{RELEASE}-{name}"]["spec"]["ports"]}
        assert ports["metrics"]["port"] == METRICS_PORTS[name] and ports["metrics"]["targetPort"] == "metrics"
    # The headless per-pod Services carry no metrics port, so each pod is scraped once.
    for name in SERVICE_NAMES:
        assert "metrics" not in {p["name"] for p in services[f"{RELEASE}-{name}-pods"]["spec"]["ports"]}


def test_the_service_monitor_scrapes_every_components_metrics_port(everything: Rendered) -> None:
    (monitor,) = everything.of_kind("ServiceMonitor")
    [endpoint] = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")
    assert endpoint["relabelings"][0]["targetLabel"] == "component"
    selected = [
        doc
        for doc in everything.of_kind("Service")
        if selects(monitor["spec"]["selector"]["matchLabels"], doc["metadata"]["labels"])
        and "metrics" in {p["name"] for p in doc["spec"]["ports"]}
    ]
    assert sorted(everything.component(doc) for doc in selected) == sorted(COMPONENTS)
    # Off by default: a cluster without prometheus-operator has no ServiceMonitor kind.
    defaults = render()
    assert not defaults.of_kind("ServiceMonitor", "PrometheusRule")
    assert "shutter.json" not in json.dumps([doc.get("data", {}) for doc in defaults.of_kind("ConfigMap")])


def test_network_policies_let_only_prometheus_scrape_the_metrics_port(everything: Rendered) -> None:
    policies = {everything.component(doc): doc for doc in everything.of_kind("NetworkPolicy")}
    for name in COMPONENTS:
        scrapes = [
            rule
            for rule in policies[name]["spec"]["ingress"]
            if [p["port"] for p in rule["ports"]] == [METRICS_PORTS[name]]
        ]
        assert len(scrapes) == 1, name
        assert scrapes[0]["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ], name


def test_tracing_settings_reach_every_process_and_the_collector_is_reachable() -> None:
    rendered = render(
        "--set",
        "telemetry.tracing.enabled=true",
        "--set",
        "telemetry.tracing.otlpEndpoint=http://collector.obs:4317",
        "--set",
        "telemetry.tracing.sampleRatio=0.05",
        "--set",
        "telemetry.channelz=true",
    )
    settings = TelemetrySettings.from_env(config_map(rendered))
    assert settings.tracing and settings.channelz
    assert (settings.otlp_endpoint, settings.trace_sample_ratio) == ("http://collector.obs:4317", 0.05)
    for doc in rendered.of_kind("NetworkPolicy"):
        ports = {p["port"] for rule in doc["spec"]["egress"] for p in rule["ports"]}
        assert 4317 in ports, doc["metadata"]["name"]
    # Off (the default), processes do not trace and may not reach a collector.
    defaults = render()
    assert not TelemetrySettings.from_env(config_map(defaults)).tracing
    for doc in defaults.of_kind("NetworkPolicy"):
        assert 4317 not in {p["port"] for rule in doc["spec"]["egress"] for p in rule["ports"]}


def alert_rules(rendered: Rendered) -> dict[str, dict[str, Any]]:
    (rule,) = rendered.of_kind("PrometheusRule")
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def dashboard_queries(rendered: Rendered) -> dict[str, str]:
    board = json.loads(rendered.named("ConfigMap", f"{RELEASE}-dashboard")["data"]["shutter.json"])
    queries = {}
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            # Grafana's variables, as Grafana fills them in before sending the query.
            expression = target["expr"].replace("$__rate_interval", "5m").replace("$namespace", RELEASE)
            queries[f"{panel['title']} {target['refId']}"] = expression
    return queries


def test_the_alerts_are_the_ones_asked_for_with_the_values_thresholds(everything: Rendered) -> None:
    rules = alert_rules(everything)
    assert set(rules) == ALERTS
    assert rules["ShutterOutboxStuck"]["expr"].rstrip().endswith("> 30")
    assert rules["ShutterPostToFeedSlow"]["expr"].rstrip().endswith("> 1")
    assert rules["ShutterDeadLetters"]["expr"].rstrip().endswith("> 0")
    tuned = alert_rules(render(*ENABLED, "--set", "telemetry.metrics.prometheusRule.outboxOldestSeconds=90"))
    assert tuned["ShutterOutboxStuck"]["expr"].rstrip().endswith("> 90")
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name


def test_the_dashboard_covers_red_the_pipeline_and_uploads(everything: Rendered) -> None:
    queries = dashboard_queries(everything)
    named = set().union(*(metric_names(q) for q in queries.values()))
    assert {"grpc_server_handled_total", "grpc_server_handling_seconds_bucket"} <= named  # RED
    assert {"shutter_feed_fanout_lag_seconds_bucket", "shutter_search_index_lag_seconds_bucket"} <= named  # lags
    assert {"shutter_consumer_pending_events", "shutter_outbox_oldest_unsent_age_seconds"} <= named
    assert {"shutter_photo_uploads_total", "shutter_photo_upload_bytes_total"} <= named  # uploads


async def test_every_metric_a_rule_or_panel_names_exists_in_a_live_scrape(
    everything: Rendered, mesh: Mesh, gateway: str
) -> None:
    exported: set[str] = set()
    for name in COMPONENTS:
        exported |= (await scrape(mesh.metrics_url(name))).names()
    queries = {f"alert {name}": rule["expr"] for name, rule in alert_rules(everything).items()}
    queries.update(dashboard_queries(everything))
    missing = {}
    for where, expression in queries.items():
        try:
            names = metric_names(expression)
        except ValueError as exc:
            pytest.fail(f"{where} does not parse: {exc}\n{expression}")
        assert names, where
        if names - exported:
            missing[where] = sorted(names - exported)
    assert not missing, missing
