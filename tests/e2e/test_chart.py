"""The Helm chart on a real control plane: install it, then run the operator with the chart's own
ServiceAccount credentials and prove that they are enough for a full rollout and rollback, and no more.

This module brings its own control plane and Prometheus (module-scoped fixtures below), never the
session's: the session `operator` fixture runs an admin operator cluster-wide, which would act on these
objects too. The chart's own pods are fake here (kwok), so the operator runs as local processes
authenticated as `system:serviceaccount:rewind-system:rewind` (a token from `kubectl create token`):
exactly what the in-cluster pods would be allowed to do. Two such processes elect a leader through the
chart's Lease (`python -m rewind.leader`); only the leader acts, and the standby takes over when the
leader is killed.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.e2e.support import Operator, Prometheus, kubectl_binary, wait_for
from tests.e2e.world import GROUP, VERSION, World
from tests.tools import ROOT, built_binary, local_cluster

CHART = ROOT / "charts" / "rewind"
RELEASE, SYSTEM = "rewind", "rewind-system"
SA = f"system:serviceaccount:{SYSTEM}:{RELEASE}"
LEASE_ARGS = ("--lease-duration", "4", "--renew-deadline", "3", "--retry-period", "0.5", "--health-port", "0")


def helm_binary() -> str:
    return built_binary("helm")


def can_i(kc: list[str], who: str, verb: str, resource: str, *where: str) -> str:
    """`kubectl auth can-i` as `who`: "yes" or "no"."""
    cmd = [*kc, "auth", "can-i", verb, resource, *where, f"--as={who}"]
    return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()


def run(cmd: list[str]) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


# Fixtures: a control plane, a Prometheus and the chart of this module's own ----------------------------


@pytest.fixture(scope="module")
def chart_kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_cluster("rewind-chart", tmp_path_factory.mktemp("chart-cluster")) as path:
        yield path


@pytest.fixture(scope="module")
def admin(chart_kubeconfig: str) -> client.ApiClient:
    return config.new_client_from_config(config_file=chart_kubeconfig)


@pytest.fixture(scope="module")
def kc(chart_kubeconfig: str) -> list[str]:
    return [kubectl_binary(), "--kubeconfig", chart_kubeconfig]


@pytest.fixture(scope="module")
def helm(chart_kubeconfig: str) -> list[str]:
    return [helm_binary(), "--kubeconfig", chart_kubeconfig]


@pytest.fixture(scope="module")
def chart_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    prom = Prometheus.start(tmp_path_factory.mktemp("chart-prometheus"))
    try:
        yield prom
    finally:
        prom.stop()


@pytest.fixture(scope="module")
def release(helm: list[str], kc: list[str], chart_prometheus: Prometheus) -> str:
    """`helm install` exactly as the README says, with the image a kind cluster would have loaded.

    The Gateway API CRDs go in first, as on a cluster that has them, so that the HTTPRoute grant is real.
    """
    gateway = run([str(ROOT / "hack" / "testenv.sh"), "--gateway-crds"]).strip()
    run([*kc, "apply", "--server-side", "-f", gateway])
    run(
        [
            *helm,
            *("install", RELEASE, str(CHART), "--namespace", SYSTEM, "--create-namespace"),
            *("--set", "image.repository=rewind", "--set", "image.tag=dev", "--set", "image.pullPolicy=Never"),
            *("--set", f"prometheus.address={chart_prometheus.url}", "--wait", "--timeout", "120s"),
        ]
    )
    return RELEASE


def token_kubeconfig(admin_kubeconfig: str, kc: list[str], *, namespace: str, sa: str, out: Path) -> str:
    """A kubeconfig that authenticates as the ServiceAccount, with a token from the TokenRequest API."""
    token = run([*kc, "-n", namespace, "create", "token", sa, "--duration", "2h"]).strip()
    admin_config = yaml.safe_load(Path(admin_kubeconfig).read_text())
    cluster = admin_config["clusters"][0]["cluster"]
    out.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": sa, "user": {"token": token}}],
                "contexts": [{"name": sa, "context": {"cluster": "c", "user": sa}}],
                "current-context": sa,
            }
        )
    )
    return str(out)


@pytest.fixture(scope="module")
def sa_kubeconfig(release: str, chart_kubeconfig: str, kc: list[str], tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("sa") / "kubeconfig"
    return token_kubeconfig(chart_kubeconfig, kc, namespace=SYSTEM, sa=release, out=out)


def new_namespace(api: client.ApiClient, name: str | None = None) -> str:
    name = name or f"chart-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    wait_for(lambda: bool(core.list_namespaced_service_account(name).items), 60, "default ServiceAccount")
    return name


@pytest.fixture
def world(admin: client.ApiClient, chart_prometheus: Prometheus) -> Iterator[World]:
    namespace = new_namespace(admin)
    w = World(api=admin, namespace=namespace, prometheus=chart_prometheus).serve_metrics()
    w.error_rate("stable", 0.0)
    w.error_rate("canary", 0.0)
    try:
        yield w
    finally:
        w.close()
        client.CoreV1Api(admin).delete_namespace(namespace)


def leader_process(kubeconfig: str, prometheus: Prometheus, log: Path, *scope: str) -> Operator:
    args = ("-m", "rewind.leader", *scope, "--lease-namespace", SYSTEM, "--lease-name", RELEASE, *LEASE_ARGS)
    return Operator(kubeconfig=kubeconfig, prometheus_url=prometheus.url, log_path=log, args=args)


@pytest.fixture
def pair(sa_kubeconfig: str, chart_prometheus: Prometheus, tmp_path: Path) -> Iterator[list[Operator]]:
    """Two replicas of the operator with the chart's credentials, as the chart's Deployment runs them."""
    ops = [
        leader_process(sa_kubeconfig, chart_prometheus, tmp_path / f"replica-{i}.log", "--all-namespaces").start()
        for i in range(2)
    ]
    try:
        yield ops
    finally:
        for op in ops:
            op.stop()
        for op in ops:
            assert_no_permission_errors(op)


def assert_no_permission_errors(op: Operator) -> None:
    log = op.log_path.read_text(errors="replace")
    # RBAC refusals read `... is forbidden: User "system:serviceaccount:..." cannot ...`; kopf says "Not
    # enough permissions". A 403 for a namespace being deleted under the operator is no RBAC matter.
    for needle in ("is forbidden: User", "Not enough permissions"):
        assert needle not in log, f"{op.log_path.name}: {needle!r} in the operator log:\n{op.log_tail(80)}"


def leader_of(ops: list[Operator]) -> tuple[Operator, list[Operator]]:
    """The one replica that leads (its `rewind_leader` gauge is 1), and the others."""

    def probe() -> tuple[Operator, list[Operator]] | None:
        leading = [op for op in ops if op.process is not None and op.metric("rewind_leader") == 1]
        if len(leading) != 1:
            return None
        return leading[0], [op for op in ops if op is not leading[0]]

    return wait_for(probe, timeout=30, what="exactly one leader")


def lease_holder(admin: client.ApiClient) -> str:
    lease = client.CoordinationV1Api(admin).read_namespaced_lease(RELEASE, SYSTEM)
    return str(lease.spec.holder_identity or "")


def reconciles(op: Operator) -> float:
    return op.metric("rewind_reconcile_duration_seconds_count")


# Tests ----------------------------------------------------------------------------------------------------


def test_helm_installs_the_generated_crds_and_the_operator(release: str, admin: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(admin)
    for name in ("modelversions.rewind.dev", "modeldeployments.rewind.dev"):
        crd = ext.read_custom_resource_definition(name)
        generated = yaml.safe_load((ROOT / "crds" / f"rewind.dev_{name.split('.')[0]}.yaml").read_text())
        assert crd.spec.versions[0].name == generated["spec"]["versions"][0]["name"]
        assert any(c.type == "Established" and c.status == "True" for c in crd.status.conditions)
    deployment = client.AppsV1Api(admin).read_namespaced_deployment(release, SYSTEM)
    assert deployment.spec.replicas == 2
    assert deployment.status.available_replicas == 2
    pod = deployment.spec.template.spec
    assert pod.service_account_name == release
    assert pod.security_context.run_as_non_root and pod.security_context.seccomp_profile.type == "RuntimeDefault"
    container = pod.containers[0]
    assert container.security_context.read_only_root_filesystem
    assert container.image == "rewind:dev" and container.image_pull_policy == "Never"
    assert container.liveness_probe and container.readiness_probe and container.resources.requests
    service = client.CoreV1Api(admin).read_namespaced_service(f"{release}-metrics", SYSTEM)
    assert service.spec.ports[0].port == 8000


def test_chart_credentials_run_a_full_rollout_and_rollback(world: World, pair: list[Operator]) -> None:
    leader, (standby,) = leader_of(pair)
    assert lease_holder(world.api).startswith(os.uname().nodename)

    world.mv("1.0.0")
    world.mv("1.1.0")
    world.mv("2.0.0")
    world.md("1.0.0")
    world.wait_healthy("1.0.0")
    world.set_version("1.1.0")
    world.wait_status("1.1.0 promoted", lambda s: s.get("stableVersion") == "1.1.0", timeout=90)
    world.wait_healthy("1.1.0")
    assert [(e["version"], e.get("outcome")) for e in world.status()["history"]] == [
        ("1.0.0", "Superseded"),
        ("1.1.0", "Promoted"),
    ]

    world.error_rate("canary", 0.5)
    world.set_version("2.0.0")
    status = world.wait_status("rolled back", lambda s: s.get("phase") == "RolledBack", timeout=90)
    assert world.get()["spec"]["version"] == "1.1.0"
    assert status["stableVersion"] == "1.1.0"
    assert world.version_obj("2.0.0")["metadata"]["labels"]["rewind.dev/failed"] == "true"
    assert "RolledBack" in [reason for reason, _ in world.events()], "Events are posted with these credentials"

    # Only the leader acted; the standby never even loaded the handlers.
    assert reconciles(leader) > 0
    assert reconciles(standby) == 0
    assert standby.metric("rewind_leader") == 0


def test_standby_takes_over_when_the_leader_dies(world: World, pair: list[Operator]) -> None:
    leader, (standby,) = leader_of(pair)
    world.mv("1.0.0")
    world.mv("1.1.0")
    steps = [{"weight": 20, "pause": "3s"}, {"weight": 40, "pause": "3s"}, {"weight": 60, "pause": "3s"}]
    world.md("1.0.0", strategy={"canary": {"steps": steps}})
    world.wait_healthy("1.0.0")
    world.set_version("1.1.0")
    world.wait_status("step 2", lambda s: (s.get("canary") or {}).get("step") == 1)
    before = lease_holder(world.api)

    leader.kill()  # SIGKILL: the lease is neither renewed nor released
    wait_for(lambda: standby.metric("rewind_leader") == 1, timeout=20, what="the standby to lead")
    assert lease_holder(world.api) not in ("", before)
    world.wait_healthy("1.1.0", timeout=120)
    assert reconciles(standby) > 0
    assert len([m for r, m in world.events() if r == "CanaryStep"]) == 2, "no step repeated across the takeover"


def test_released_lease_hands_over_at_once(pair: list[Operator], admin: client.ApiClient) -> None:
    leader, (standby,) = leader_of(pair)
    leader.stop()  # SIGTERM: kopf stops gracefully and the lease is released
    wait_for(lambda: standby.metric("rewind_leader") == 1, timeout=10, what="the standby to lead")
    assert lease_holder(admin) != ""


@pytest.mark.parametrize(
    ("verb", "resource", "where"),
    [
        ("delete", "modelversions.rewind.dev", "default"),
        ("delete", "modeldeployments.rewind.dev", "default"),
        ("update", "modeldeployments.rewind.dev", "default"),
        ("delete", "deployments.apps", "default"),
        ("delete", "services", "default"),
        ("get", "secrets", "default"),
        ("list", "secrets", "default"),
        ("create", "pods", "default"),
        ("get", "configmaps", "default"),
        ("create", "modelversions.rewind.dev", "default"),
        ("update", "leases.coordination.k8s.io/another-lease", SYSTEM),
        ("create", "clusterrolebindings.rbac.authorization.k8s.io", ""),
    ],
)
def test_service_account_can_not_do_more(release: str, kc: list[str], verb: str, resource: str, where: str) -> None:
    ns = ["-n", where] if where else []
    assert can_i(kc, SA, verb, resource, *ns) == "no", f"{SA} may {verb} {resource}"


@pytest.mark.parametrize(
    ("verb", "resource"),
    [
        ("patch", "modeldeployments.rewind.dev"),
        ("patch", "modelversions.rewind.dev/status"),
        ("create", "deployments.apps"),
        ("create", "events"),
        ("patch", "httproutes.gateway.networking.k8s.io"),
        ("update", f"leases.coordination.k8s.io/{RELEASE}"),
    ],
)
def test_service_account_can_do_what_the_operator_does(release: str, kc: list[str], verb: str, resource: str) -> None:
    where = SYSTEM if resource.startswith("leases") else "default"
    assert can_i(kc, SA, verb, resource, "-n", where) == "yes", f"{SA} may not {verb} {resource}"


def test_a_real_forbidden_request_is_refused(sa_kubeconfig: str, world: World) -> None:
    world.mv("1.0.0")
    as_sa = client.CustomObjectsApi(config.new_client_from_config(config_file=sa_kubeconfig))
    name = "fraud-detector-1-0-0"
    assert as_sa.get_namespaced_custom_object(GROUP, VERSION, world.namespace, "modelversions", name)
    with pytest.raises(ApiException) as refused:
        as_sa.delete_namespaced_custom_object(GROUP, VERSION, world.namespace, "modelversions", name)
    assert refused.value.status == 403
    core = client.CoreV1Api(config.new_client_from_config(config_file=sa_kubeconfig))
    with pytest.raises(ApiException) as secret:
        core.read_namespaced_secret("anything", world.namespace)
    assert secret.value.status == 403


@pytest.mark.usefixtures("release")
def test_namespaced_install_is_confined_to_its_namespaces(
    helm: list[str], kc: list[str], admin: client.ApiClient, chart_prometheus: Prometheus, tmp_path: Path
) -> None:
    chart_kubeconfig = kc[-1]
    team_a, team_b = new_namespace(admin), new_namespace(admin)
    system = "team-system"
    run(
        [
            *helm,
            *("install", "rewind-team", str(CHART), "--namespace", system, "--create-namespace"),
            *("--set", f"watch.namespaces={{{team_a}}}", "--set", "replicaCount=1"),
            *("--set", "leaderElection.enabled=false", "--set", f"prometheus.address={chart_prometheus.url}"),
        ]
    )
    team_sa = f"system:serviceaccount:{system}:rewind-team"

    def can(verb: str, resource: str, *where: str) -> str:
        return can_i(kc, team_sa, verb, resource, *where)

    assert can("patch", "modeldeployments.rewind.dev", "-n", team_a) == "yes"
    assert can("patch", "modeldeployments.rewind.dev", "-n", team_b) == "no"
    assert can("list", "modeldeployments.rewind.dev", "--all-namespaces") == "no"
    assert can("list", "customresourcedefinitions.apiextensions.k8s.io") == "no"
    assert can("list", "namespaces") == "no"

    kubeconfig = token_kubeconfig(chart_kubeconfig, kc, namespace=system, sa="rewind-team", out=tmp_path / "kc")
    op = Operator(
        kubeconfig=kubeconfig,
        prometheus_url=chart_prometheus.url,
        log_path=tmp_path / "team.log",
        args=("-m", "rewind.leader", "--namespace", team_a, "--no-leader-election", "--health-port", "0"),
    ).start()
    worlds: list[World] = []
    try:
        for ns in (team_a, team_b):
            w = World(api=admin, namespace=ns, prometheus=chart_prometheus).serve_metrics()
            worlds.append(w)
            w.error_rate("stable", 0.0)
            w.mv("1.0.0")
            w.md("1.0.0")
        worlds[0].wait_healthy("1.0.0")
        assert worlds[0].deployment("stable").spec.replicas == 2
        # team-b is not watched (and could not be): nothing happened there.
        assert worlds[1].status() == {}
        assert "status" not in worlds[1].version_obj("1.0.0")
    finally:
        op.stop()
        for w in worlds:
            w.close()
    assert_no_permission_errors(op)


@pytest.mark.usefixtures("release")
def test_kubectl_apply_of_the_rendered_chart_is_accepted(helm: list[str], kc: list[str]) -> None:
    """README's path without Helm: `helm template ... | kubectl apply -f -` (here a server-side dry run)."""
    rendered = run([*helm, "template", "rewind-plain", str(CHART), "--namespace", SYSTEM])
    done = subprocess.run(
        [*kc, "apply", "--dry-run=server", "-f", "-"], input=rendered, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "deployment.apps/rewind-plain created (server dry run)" in done.stdout
