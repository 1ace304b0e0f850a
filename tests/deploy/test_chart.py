"""The Helm chart, rendered with `helm template` and checked against the code it deploys.

The call graph, ports and settings come from the code (services.runtime.topology, Settings), so a
chart that drifts from the services fails here rather than in a cluster.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.photo.s3_blobs import S3Config
from services.photo.settings import S3Settings
from services.runtime.config import Settings
from services.runtime.ids import MAX_SHARD
from services.runtime.settings import declared_names
from services.runtime.topology import CALL_GRAPH, DEFAULT_PORTS, GATEWAY_PORT, METRICS_PORTS, SERVICE_NAMES
from tools import chartgen

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "shutter"
RELEASE = "shutter"
NAMESPACE = "shutter"
KUBE_VERSION = "1.30.0"
VALUE_SETS = {"default": [], "production": [CHART / "values-production.yaml"]}
COMPONENTS = (*SERVICE_NAMES, "gateway")
WORKLOAD_KINDS = ("Deployment", "StatefulSet")
COMPONENT_LABEL = "app.kubernetes.io/component"


def helm_binary() -> str:
    """helm from .tools/bin (pinned by the Makefile) or PATH; missing helm is a failure, never a skip."""
    found = shutil.which("helm", path=os.pathsep.join([str(ROOT / ".tools" / "bin"), os.environ.get("PATH", "")]))
    if found is None:
        pytest.fail("helm is not installed: run `make tools` (installs it into .tools/bin)", pytrace=False)
    return found


def helm(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm_binary(), *map(str, args)], capture_output=True, text=True, timeout=120, check=False)


def template(values: list[Path], *extra: str) -> subprocess.CompletedProcess[str]:
    flags = [arg for path in values for arg in ("-f", str(path))]
    return helm("template", RELEASE, CHART, "-n", NAMESPACE, "--kube-version", KUBE_VERSION, *flags, *extra)


@dataclass
class Rendered:
    """The manifests of one `helm template`, indexed for the checks below."""

    docs: list[dict[str, Any]]

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc["kind"] in kinds]

    def component(self, doc: dict[str, Any]) -> str:
        return doc["metadata"]["labels"][COMPONENT_LABEL]

    def workloads(self) -> dict[str, dict[str, Any]]:
        return {self.component(doc): doc for doc in self.of_kind(*WORKLOAD_KINDS)}

    def named(self, kind: str, name: str) -> dict[str, Any]:
        matches = [doc for doc in self.of_kind(kind) if doc["metadata"]["name"] == name]
        assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
        return matches[0]

    def config(self) -> dict[str, str]:
        (config_map,) = self.of_kind("ConfigMap")
        return config_map["data"]


@pytest.fixture(scope="module", params=sorted(VALUE_SETS))
def rendered(request: pytest.FixtureRequest) -> Iterator[Rendered]:
    result = template(VALUE_SETS[request.param])
    assert result.returncode == 0, result.stderr
    yield Rendered([doc for doc in yaml.safe_load_all(result.stdout) if doc])


def container(workload: dict[str, Any]) -> dict[str, Any]:
    (only,) = workload["spec"]["template"]["spec"]["containers"]
    return only


def env_of(workload: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item for item in container(workload).get("env", [])}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_chart_lints_strictly(value_set: str) -> None:
    flags = [arg for path in VALUE_SETS[value_set] for arg in ("-f", str(path))]
    result = helm("lint", "--strict", CHART, *flags)
    assert result.returncode == 0, result.stdout + result.stderr


def test_topology_file_matches_the_code() -> None:
    """charts/shutter/topology.yaml is what `make chart-values` writes from topology.py today."""
    assert (CHART / "topology.yaml").read_text() == chartgen.render(), "stale: run `make chart-values`"
    components = yaml.safe_load((CHART / "topology.yaml").read_text())["components"]
    assert {name: set(c["calls"]) for name, c in components.items()} == {n: set(c) for n, c in CALL_GRAPH.items()}


def test_one_workload_per_component(rendered: Rendered) -> None:
    assert sorted(rendered.workloads()) == sorted(COMPONENTS)
    assert len(rendered.of_kind(*WORKLOAD_KINDS)) == len(COMPONENTS)
    for name, workload in rendered.workloads().items():
        module = "gateway" if name == "gateway" else f"services.{name}"
        assert container(workload)["command"][-3:] == ["python", "-m", module], name


def test_workloads_are_probed_on_grpc_health_and_healthz(rendered: Rendered) -> None:
    for name, workload in rendered.workloads().items():
        spec = container(workload)
        port = GATEWAY_PORT if name == "gateway" else DEFAULT_PORTS[name]
        ports = {p["name"]: p["containerPort"] for p in spec["ports"]}
        assert ports == {"http" if name == "gateway" else "grpc": port, "metrics": METRICS_PORTS[name]}, name
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe in spec, f"{name} has no {probe}"
        if name == "gateway":
            assert spec["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            assert "tcpSocket" in spec["livenessProbe"] or "httpGet" in spec["livenessProbe"]
        else:
            assert spec["readinessProbe"]["grpc"] == {"port": port}, name
            assert spec["livenessProbe"]["grpc"] == {"port": port}, name


def test_workloads_have_resources_and_locked_down_security(rendered: Rendered) -> None:
    for name, workload in rendered.workloads().items():
        pod = workload["spec"]["template"]["spec"]
        spec = container(workload)
        assert spec["resources"]["requests"]["cpu"] and spec["resources"]["requests"]["memory"], name
        assert spec["resources"]["limits"]["memory"], name
        security = spec["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert isinstance(security["runAsUser"], int) and security["runAsUser"] > 0, name
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        assert "add" not in security["capabilities"], name
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["enableServiceLinks"] is False, name


def test_only_data_dir_and_tmp_are_writable(rendered: Rendered) -> None:
    data_dir = rendered.config()["SHUTTER_DATA_DIR"]
    for name, workload in rendered.workloads().items():
        mounts = {m["mountPath"]: m["name"] for m in container(workload)["volumeMounts"]}
        assert set(mounts) == {data_dir, "/tmp"}, name
        volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
        assert all("emptyDir" in volumes[v] or "persistentVolumeClaim" in volumes[v] for v in mounts.values()), name


def test_termination_outlasts_prestop_and_drain(rendered: Rendered) -> None:
    grace = float(rendered.config()["SHUTTER_SHUTDOWN_GRACE_SECONDS"])
    for name, workload in rendered.workloads().items():
        pod = workload["spec"]["template"]["spec"]
        sleep = container(workload)["lifecycle"]["preStop"]["exec"]["command"]
        assert sleep[0] == "sleep" and int(sleep[1]) > 0, name
        assert pod["terminationGracePeriodSeconds"] > grace + int(sleep[1]), name


def test_every_service_selects_a_workloads_pods(rendered: Rendered) -> None:
    workloads = rendered.workloads()
    services = rendered.of_kind("Service")
    assert services
    for service in services:
        selector = service["spec"]["selector"]
        targets = [n for n, w in workloads.items() if selects(selector, w["spec"]["template"]["metadata"]["labels"])]
        assert len(targets) == 1, f"Service {service['metadata']['name']} selects {targets}"
        ports = {p["name"]: p["containerPort"] for p in container(workloads[targets[0]])["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, service["metadata"]["name"]
            assert port["port"] == ports[port["targetPort"]], service["metadata"]["name"]


def test_every_workload_has_an_hpa_and_a_pdb(rendered: Rendered) -> None:
    workloads = rendered.workloads()
    hpas = {doc["spec"]["scaleTargetRef"]["name"]: doc for doc in rendered.of_kind("HorizontalPodAutoscaler")}
    pdbs = rendered.of_kind("PodDisruptionBudget")
    for name, workload in workloads.items():
        hpa = hpas.get(workload["metadata"]["name"])
        assert hpa is not None, f"{name} has no HPA"
        assert hpa["spec"]["scaleTargetRef"]["kind"] == workload["kind"], name
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"], name
        labels = workload["spec"]["template"]["metadata"]["labels"]
        covering = [p for p in pdbs if selects(p["spec"]["selector"]["matchLabels"], labels)]
        assert len(covering) == 1, f"{name} is covered by {len(covering)} PDBs"
    assert len(hpas) == len(pdbs) == len(workloads)


def peer_components(peers: list[dict[str, Any]]) -> set[str]:
    """Components named by NetworkPolicy peers that select this release's pods."""
    names = set()
    for peer in peers:
        labels = peer.get("podSelector", {}).get("matchLabels", {})
        if labels.get("app.kubernetes.io/instance") == RELEASE and COMPONENT_LABEL in labels:
            assert "namespaceSelector" not in peer, "mesh peers must be in the release's namespace"
            names.add(labels[COMPONENT_LABEL])
    return names


def test_network_policies_allow_exactly_the_call_graph(rendered: Rendered) -> None:
    """Ingress and egress between components, read back from the rendered policies, equal CALL_GRAPH."""
    policies = {rendered.component(doc): doc for doc in rendered.of_kind("NetworkPolicy")}
    assert set(COMPONENTS) <= set(policies)
    workloads = rendered.workloads()
    calls_from_egress: dict[str, frozenset[str]] = {}
    callers_from_ingress: dict[str, set[str]] = {}
    for name in COMPONENTS:
        spec = policies[name]["spec"]
        assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"], name
        pod_labels = workloads[name]["spec"]["template"]["metadata"]["labels"]
        assert selects(spec["podSelector"]["matchLabels"], pod_labels), name
        callees: set[str] = set()
        for rule in spec["egress"]:
            targets = peer_components(rule.get("to", []))
            for target in targets:
                port = DEFAULT_PORTS[target]
                assert [p["port"] for p in rule["ports"]] == [port], f"{name} → {target}"
            callees |= targets
        calls_from_egress[name] = frozenset(callees)
        callers: set[str] = set()
        for rule in spec.get("ingress", []):
            if [p["port"] for p in rule["ports"]] == [METRICS_PORTS[name]]:
                continue  # Prometheus's scrapes (tests/deploy/test_chart_telemetry.py)
            callers |= peer_components(rule.get("from", []))
            own_port = GATEWAY_PORT if name == "gateway" else DEFAULT_PORTS[name]
            assert [p["port"] for p in rule["ports"]] == [own_port], name
        callers_from_ingress[name] = callers
    assert calls_from_egress == CALL_GRAPH
    expected_callers = {name: {c for c, callees in CALL_GRAPH.items() if name in callees} for name in COMPONENTS}
    assert callers_from_ingress == expected_callers


def test_every_process_may_reach_dns_nats_and_scylla(rendered: Rendered) -> None:
    for doc in rendered.of_kind("NetworkPolicy"):
        ports = {(p.get("protocol", "TCP"), p["port"]) for rule in doc["spec"]["egress"] for p in rule["ports"]}
        assert {("UDP", 53), ("TCP", 53), ("TCP", 4222), ("TCP", 9042)} <= ports, doc["metadata"]["name"]


def test_config_points_every_peer_at_its_service(rendered: Rendered) -> None:
    """The ConfigMap read by the code's own Settings gives each peer's headless Service (dns:/// so
    the round_robin channels see every pod) and the store."""
    settings = Settings.from_env(rendered.config())
    assert settings.store == "cql"
    assert settings.host == "0.0.0.0"
    assert settings.nats_url.startswith("nats://")
    assert settings.cql_contact_points and settings.cql_keyspace
    assert settings.gateway_port == GATEWAY_PORT
    assert settings.nats_stream_replicas >= 1
    for name in SERVICE_NAMES:
        service = rendered.named("Service", f"{RELEASE}-{name}-pods")
        assert service["spec"]["clusterIP"] == "None", name
        host, port = settings.addresses[name].rsplit(":", 1)
        assert host == f"dns:///{RELEASE}-{name}-pods.{NAMESPACE}.svc.cluster.local", name
        assert int(port) == service["spec"]["ports"][0]["port"] == settings.ports[name], name


def test_the_access_log_is_sampled_in_a_cluster(rendered: Rendered) -> None:
    """A line per call costs about a fifth of a call's CPU (the bench's runtime floor): the chart logs one in 100
    successful calls per method (failures always; the metrics count every call), and may log them all."""
    assert Settings.from_env(rendered.config()).rpc_log_every == 100
    result = template([], "--set", "config.rpcLogEvery=1")
    assert result.returncode == 0, result.stderr
    every = Rendered([doc for doc in yaml.safe_load_all(result.stdout) if doc])
    assert Settings.from_env(every.config()).rpc_log_every == 1


def test_auth_secret_comes_from_a_secret(rendered: Rendered) -> None:
    """Every service gets the signing key from a Secret; the internet-facing gateway never holds it."""
    secrets = {doc["metadata"]["name"] for doc in rendered.of_kind("Secret")}
    workloads = rendered.workloads()
    assert "SHUTTER_AUTH_SECRET" not in env_of(workloads.pop("gateway"))
    assert workloads
    for name, workload in workloads.items():
        reference = env_of(workload)["SHUTTER_AUTH_SECRET"]["valueFrom"]["secretKeyRef"]
        assert reference["name"] in secrets or reference["name"] == "shutter-auth", name
    assert "SHUTTER_AUTH_SECRET" not in rendered.config()


def test_existing_secret_replaces_the_charts_own() -> None:
    result = template([], "--set", "auth.existingSecret=prod-auth", "--set", "auth.existingSecretKey=key")
    assert result.returncode == 0, result.stderr
    docs = Rendered([doc for doc in yaml.safe_load_all(result.stdout) if doc])
    assert docs.of_kind("Secret") == []
    for name, workload in docs.workloads().items():
        if name == "gateway":
            continue
        assert env_of(workload)["SHUTTER_AUTH_SECRET"]["valueFrom"]["secretKeyRef"] == {
            "name": "prod-auth",
            "key": "key",
        }


def test_production_replicates_across_the_datacenter() -> None:
    result = template(VALUE_SETS["production"])
    assert result.returncode == 0, result.stderr
    docs = Rendered([doc for doc in yaml.safe_load_all(result.stdout) if doc])
    replication = docs.config()["SHUTTER_CQL_REPLICATION"]
    assert "NetworkTopologyStrategy" in replication
    assert docs.config()["SHUTTER_NATS_STREAM_REPLICAS"] == "3"
    assert all(hpa["spec"]["minReplicas"] >= 3 for hpa in docs.of_kind("HorizontalPodAutoscaler"))


def test_id_shards_are_disjoint_and_cover_every_replica(rendered: Rendered) -> None:
    """Replicas of a service must never mint the same id: each owns shardBase + ordinal."""
    hpas = {doc["spec"]["scaleTargetRef"]["name"]: doc for doc in rendered.of_kind("HorizontalPodAutoscaler")}
    ranges = []
    for name in SERVICE_NAMES:
        workload = rendered.workloads()[name]
        assert workload["kind"] == "StatefulSet", f"{name} mints ids: it needs stable, unique ordinals"
        base = int(env_of(workload)["SHUTTER_SHARD_BASE"]["value"])
        most = hpas[workload["metadata"]["name"]]["spec"]["maxReplicas"]
        ranges.append((base, base + most - 1, name))
    ranges.sort()
    for (_, end, name), (start, _, following) in itertools.pairwise(ranges):
        assert end < start, f"{name} and {following} share id shards"
    assert ranges[0][0] >= 0 and ranges[-1][1] <= MAX_SHARD


def test_the_chart_sets_only_settings_some_process_declares(rendered: Rendered) -> None:
    """A variable no process declares would be warned about at every start, and does nothing."""
    names = set(rendered.config())
    for workload in rendered.workloads().values():
        names |= {name for name in env_of(workload) if name.startswith("SHUTTER_")}
    assert sorted(names - declared_names()) == []


def test_shard_command_computes_the_shard_from_the_pod_ordinal(rendered: Rendered) -> None:
    """Run the rendered start-up command through sh, the way the kubelet would, with the service swapped out."""
    workload = rendered.workloads()["photo"]
    command = [part.replace("$$", "$") for part in container(workload)["command"]]  # Kubernetes' $$ escape
    base = int(env_of(workload)["SHUTTER_SHARD_BASE"]["value"])
    shell_part = command[: command.index("python")]
    probe = [*shell_part, "sh", "-c", 'printf %s "$SHUTTER_SHARD_ID"']
    env = {"PATH": os.environ["PATH"], "POD_NAME": f"{RELEASE}-photo-7", "SHUTTER_SHARD_BASE": str(base)}
    result = subprocess.run(probe, capture_output=True, text=True, env=env, timeout=10, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == str(base + 7)
    env["POD_NAME"] = "not-an-ordinal"
    broken = subprocess.run(probe, capture_output=True, text=True, env=env, timeout=10, check=False)
    assert broken.returncode != 0, "a pod without an ordinal must not start with a made-up shard"


def test_too_many_replicas_for_a_shard_block_fail_to_render() -> None:
    result = template([], "--set", "components.photo.autoscaling.maxReplicas=5000")
    assert result.returncode != 0
    assert "id shard block" in result.stderr


def test_unknown_component_override_fails_to_render() -> None:
    result = template([], "--set", "components.phtoo.replicas=3")
    assert result.returncode != 0
    assert "components.phtoo" in result.stderr


def test_sqlite_store_with_several_replicas_fails_to_render() -> None:
    result = template([], "--set", "config.store=sqlite")
    assert result.returncode != 0
    assert "config.store=cql" in result.stderr


def test_migrate_hook_runs_the_configured_steps_in_order() -> None:
    steps = "migrate.steps[0].name=first,migrate.steps[0].command={true},migrate.steps[1].name=second"
    result = template([], "--set", steps, "--set", "migrate.steps[1].command={python,-m,services.runtime.cql_migrate}")
    assert result.returncode == 0, result.stderr
    (job,) = Rendered([doc for doc in yaml.safe_load_all(result.stdout) if doc]).of_kind("Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    pod = job["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["first"]
    assert [(c["name"], c["command"]) for c in pod["containers"]] == [
        ("second", ["python", "-m", "services.runtime.cql_migrate"])
    ]
    env = {item["name"]: item["value"] for item in pod["containers"][0]["env"]}
    assert env["SHUTTER_STORE"] == "cql" and env["SHUTTER_CQL_KEYSPACE"] and env["SHUTTER_NATS_URL"]


def test_photo_bytes_go_to_the_object_store_whose_keys_only_the_photo_service_holds(rendered: Rendered) -> None:
    """config.blobStore=s3 (the default): the ConfigMap says where, read back through the code's own
    S3Config; the access and secret key come from the named Secret, into the photo service alone."""
    config = rendered.config()
    assert Settings.from_env(config).blob_store == "s3"
    assert not {"SHUTTER_S3_ACCESS_KEY", "SHUTTER_S3_SECRET_KEY"} & set(config)
    workloads = rendered.workloads()
    photo_env = env_of(workloads.pop("photo"))
    keys = {
        name: photo_env[name]["valueFrom"]["secretKeyRef"]
        for name in ("SHUTTER_S3_ACCESS_KEY", "SHUTTER_S3_SECRET_KEY")
    }
    assert keys == {
        "SHUTTER_S3_ACCESS_KEY": {"name": "shutter-s3", "key": "access-key"},
        "SHUTTER_S3_SECRET_KEY": {"name": "shutter-s3", "key": "secret-key"},
    }
    for name, workload in workloads.items():
        assert not {"SHUTTER_S3_ACCESS_KEY", "SHUTTER_S3_SECRET_KEY"} & set(env_of(workload)), name
    s3 = S3Config.from_settings(
        S3Settings.from_env({**config, "SHUTTER_S3_ACCESS_KEY": "a", "SHUTTER_S3_SECRET_KEY": "s"})
    )
    assert s3.endpoint.startswith("http") and s3.bucket and s3.prefix == "photos/" and s3.presign_seconds == 300


def object_store_ports(doc: dict[str, Any]) -> set[int]:
    return {
        p["port"] for rule in doc["spec"]["egress"] if not peer_components(rule.get("to", [])) for p in rule["ports"]
    }


def test_only_the_photo_service_may_reach_the_object_store(rendered: Rendered) -> None:
    policies = {rendered.component(doc): doc for doc in rendered.of_kind("NetworkPolicy")}
    assert 8333 in object_store_ports(policies.pop("photo"))
    for name, policy in policies.items():
        assert 8333 not in object_store_ports(policy), name


def test_a_cloud_bucket_is_values_only() -> None:
    """Endpoint, public endpoint, bucket, region and the Secret's name and keys: all from values."""
    result = template(
        [],
        "--set", "config.s3.endpoint=https://s3.eu-west-1.amazonaws.com",
        "--set", "config.s3.publicEndpoint=https://media.example.org",
        "--set", "config.s3.bucket=prod-photos",
        "--set", "config.s3.region=eu-west-1",
        "--set", "config.s3.existingSecret=cloud-bucket",
        "--set", "config.s3.accessKeyKey=id",
        "--set", "config.s3.secretKeyKey=key",
        "--set", "networkPolicy.s3.ports={443}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    docs = Rendered([doc for doc in yaml.safe_load_all(result.stdout) if doc])
    settings = S3Settings.from_env({**docs.config(), "SHUTTER_S3_ACCESS_KEY": "a", "SHUTTER_S3_SECRET_KEY": "s"})
    s3 = S3Config.from_settings(settings)
    assert (s3.endpoint, s3.public_endpoint, s3.bucket, s3.region) == (
        "https://s3.eu-west-1.amazonaws.com",
        "https://media.example.org",
        "prod-photos",
        "eu-west-1",
    )
    photo_env = env_of(docs.workloads()["photo"])
    assert photo_env["SHUTTER_S3_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "cloud-bucket", "key": "key"}
    photo_policy = [doc for doc in docs.of_kind("NetworkPolicy") if docs.component(doc) == "photo"]
    assert object_store_ports(photo_policy[0]) >= {443}


def test_bytes_in_scylla_need_no_object_store() -> None:
    result = template([], "--set", "config.blobStore=cql")
    assert result.returncode == 0, result.stderr
    docs = Rendered([doc for doc in yaml.safe_load_all(result.stdout) if doc])
    assert docs.config()["SHUTTER_BLOB_STORE"] == "cql"
    assert not [key for key in docs.config() if key.startswith("SHUTTER_S3_")]
    assert "SHUTTER_S3_ACCESS_KEY" not in env_of(docs.workloads()["photo"])
    for policy in docs.of_kind("NetworkPolicy"):
        assert 8333 not in object_store_ports(policy)


def test_an_object_store_without_an_endpoint_fails_to_render() -> None:
    result = template([], "--set", "config.s3.endpoint=")
    assert result.returncode != 0
    assert "config.s3.endpoint" in result.stderr
