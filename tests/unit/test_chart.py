"""The Helm chart: `helm lint`, golden `helm template` output per ci/*-values.yaml, schema, CRDs, README.

The golden files under tests/golden/chart/ are the reviewed output; after an intended change to the
chart, regenerate them with `make golden` (REWIND_UPDATE_GOLDEN=1) and review the diff.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from hack import chart_docs

from tests.tools import built_binary

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "rewind"
GOLDEN = ROOT / "tests" / "golden" / "chart"
VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
RELEASE, NAMESPACE = "rewind", "rewind-system"


def helm_binary() -> str:
    return built_binary("helm")


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([helm_binary(), *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed:\n{done.stderr}")
    return done


def template(*args: str) -> str:
    return helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args).stdout


def docs(text: str) -> list[dict[str, object]]:
    return [d for d in yaml.safe_load_all(text) if d]


def test_values_files_exist() -> None:
    assert [v.name for v in VALUES] == ["default-values.yaml", "monitoring-values.yaml", "namespaced-values.yaml"]


@pytest.mark.parametrize("values", VALUES, ids=lambda p: p.name)
def test_lint_is_clean(values: Path) -> None:
    done = helm("lint", "--strict", str(CHART), "-f", str(values), check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[WARNING]" not in done.stdout and "[ERROR]" not in done.stdout, done.stdout


@pytest.mark.parametrize("values", VALUES, ids=lambda p: p.name)
def test_template_matches_golden(values: Path) -> None:
    rendered = template("-f", str(values))
    golden = GOLDEN / values.name.replace("-values", "")
    if os.environ.get("REWIND_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(rendered)
    assert golden.exists(), f"{golden} is missing: run `make golden`"
    assert rendered == golden.read_text(), f"{golden.name} is stale: run `make golden` and review the diff"


def test_chart_crds_are_the_generated_files() -> None:
    assert (CHART / "crds").is_symlink() and (CHART / "crds").resolve() == (ROOT / "crds").resolve()
    shown = {d["metadata"]["name"]: d for d in docs(helm("show", "crds", str(CHART)).stdout)}  # type: ignore[index]
    generated = {d["metadata"]["name"]: d for f in sorted((ROOT / "crds").glob("*.yaml")) for d in docs(f.read_text())}  # type: ignore[index]
    assert shown == generated
    assert set(shown) == {"modelversions.rewind.dev", "modeldeployments.rewind.dev", "servingrecords.rewind.dev"}


def test_package_carries_the_crds(tmp_path: Path) -> None:
    helm("package", str(CHART), "--destination", str(tmp_path))
    (archive,) = tmp_path.glob("rewind-*.tgz")
    listing = subprocess.run(["tar", "tzf", str(archive)], capture_output=True, text=True, check=True).stdout
    assert "rewind/crds/rewind.dev_modelversions.yaml" in listing
    assert "rewind/ci/" not in listing and "README.tpl.md" not in listing


def _rules(rendered: str) -> list[tuple[str, str, dict[str, object]]]:
    out = []
    for d in docs(rendered):
        if d["kind"] in ("Role", "ClusterRole"):
            meta = d["metadata"]
            assert isinstance(meta, dict)
            for rule in d["rules"]:  # type: ignore[attr-defined]
                out.append((str(d["kind"]), str(meta.get("namespace", "")), rule))
    return out


@pytest.mark.parametrize("values", VALUES, ids=lambda p: p.name)
def test_rbac_deletes_only_expired_serving_records_and_never_uses_wildcards(values: Path) -> None:
    for _, _, rule in _rules(template("-f", str(values))):
        verbs = rule["verbs"]
        assert isinstance(verbs, list)
        if "delete" in verbs:  # pruning the serving record by retention: the one thing the operator deletes
            assert rule["resources"] == ["servingrecords"], rule
        assert "deletecollection" not in verbs and "*" not in verbs, rule
        assert "*" not in rule["resources"] and "*" not in rule["apiGroups"], rule  # type: ignore[operator]
        if "secrets" in rule["resources"]:  # type: ignore[operator]
            assert rule.get("resourceNames") and verbs == ["get"], "Secrets only by name, read only"


def test_namespaced_mode_grants_nothing_cluster_wide() -> None:
    rendered = template("--set", "watch.namespaces={team-a,team-b}")
    kinds = [d["kind"] for d in docs(rendered)]
    assert "ClusterRole" not in kinds and "ClusterRoleBinding" not in kinds
    scoped = {ns for kind, ns, _ in _rules(rendered) if kind == "Role"}
    assert scoped == {"team-a", "team-b", NAMESPACE}  # NAMESPACE: the leader-election Lease only
    deployment = next(d for d in docs(rendered) if d["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]  # type: ignore[index]
    assert "--namespace=team-a" in args and "--namespace=team-b" in args and "--all-namespaces" not in args


def test_default_secrets_are_not_readable() -> None:
    assert not [r for _, _, r in _rules(template()) if "secrets" in r["resources"]]  # type: ignore[operator]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["--set", "replicaCount=two"], "replicaCount"),
        (["--set", "logFormat=xml"], "logFormat"),
        (["--set", "watch.namespaces={Not_A_Namespace}"], "namespaces"),
        (["--set", "prometheus.address=prometheus:9090"], "address"),
        (["--set", "prometheus.address=http://prometheus:9090/*"], "address"),
        (["--set", "prometheus.allowed={http://prometheus*}"], "allowed"),
        (["--set", "typo=1"], "typo"),
        (["--set", "leaderElection.enabled=false"], "leaderElection.enabled"),
    ],
)
def test_bad_values_are_refused(values: list[str], message: str) -> None:
    done = helm("template", RELEASE, str(CHART), *values, check=False)
    assert done.returncode != 0, f"{values} was accepted"
    assert message in done.stderr, done.stderr


def test_chart_readme_is_generated_from_values() -> None:
    assert chart_docs.main(["--check"]) == 0, "charts/rewind/README.md is stale: run `make chart-docs`"


def test_chart_docs_reads_nested_multiline_comments(tmp_path: Path) -> None:
    (tmp_path / "values.yaml").write_text(
        "# header, not a description\n\n"
        "# -- Top.\nreplicas: 1\n"
        "image:\n  # -- The tag,\n  # on two lines.\n  tag: v1\n  # -- Policy | pipes.\n  pullPolicy: Never\n"
    )
    (tmp_path / "README.tpl.md").write_text("# T\n{{ values }}\n")
    assert chart_docs.descriptions((tmp_path / "values.yaml").read_text()) == {
        "replicas": "Top.",
        "image.tag": "The tag, on two lines.",
        "image.pullPolicy": "Policy | pipes.",
    }
    assert '| `image.pullPolicy` | string | `"Never"` | Policy \\| pipes. |' in chart_docs.render(tmp_path)
    (tmp_path / "values.yaml").write_text("# -- Documented.\na: 1\nb: 2\n")
    with pytest.raises(SystemExit, match="b"):
        chart_docs.render(tmp_path)


def test_the_cloudevents_sink_is_deployed_only_with_a_url() -> None:
    assert not [d for d in docs(template()) if d["metadata"]["name"].endswith("-sink")]  # type: ignore[index]
    rendered = template("--set", "sink.url=https://audit.example.com/events", "--set", "watch.namespaces={team-a}")
    (sink,) = [d for d in docs(rendered) if d["kind"] == "Deployment" and d["metadata"]["name"] == "rewind-sink"]  # type: ignore[index]
    pod = sink["spec"]["template"]["spec"]  # type: ignore[index]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "rewind.sink"] and container["args"] == ["--namespace=team-a"]
    assert container["env"] == [{"name": "REWIND_SINK_URL", "value": "https://audit.example.com/events"}]
    assert sink["spec"]["replicas"] == 1  # type: ignore[index]
    operator = next(d for d in docs(rendered) if d["kind"] == "Deployment" and d["metadata"]["name"] == "rewind")
    selector = operator["spec"]["selector"]["matchLabels"]  # type: ignore[index]
    labels = sink["spec"]["template"]["metadata"]["labels"]  # type: ignore[index]
    assert not all(labels.get(k) == v for k, v in selector.items()), "the operator's selector must not take sink pods"
    watched = [r for _, _, r in _rules(rendered) if "watch" in r["verbs"] and "servingrecords" in r["resources"]]  # type: ignore[operator]
    assert watched
