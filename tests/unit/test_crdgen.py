"""The CRDs are generated from the models: drift fails, and the schema is structural."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rewind.api import crdgen
from rewind.api.modelversion import IMMUTABLE_MESSAGE

ROOT = Path(__file__).resolve().parents[2]


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        out.append((path, node))
        for key, value in node.get("properties", {}).items():
            out.extend(_walk(value, f"{path}.{key}"))
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                out.extend(_walk(node[key], f"{path}[{key}]"))
    return out


def test_committed_crds_match_the_models() -> None:
    rendered = crdgen.render()
    for name, text in rendered.items():
        committed = (ROOT / "crds" / name).read_text()
        assert committed == text, f"crds/{name} is stale: run `make crds`"


def test_check_mode_reports_drift(tmp_path: Path) -> None:
    assert crdgen.main(["--out", str(tmp_path)]) == 0
    assert crdgen.main(["--out", str(tmp_path), "--check"]) == 0
    victim = next(tmp_path.iterdir())
    victim.write_text(victim.read_text().replace("maxLength: 63", "maxLength: 64", 1))
    assert crdgen.main(["--out", str(tmp_path), "--check"]) == 1


def test_schema_is_structural() -> None:
    """Every node has a type (or int-or-string / preserve-unknown), no refs, no nullable unions."""
    for build in crdgen.GENERATORS.values():
        schema = build()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        for path, node in _walk(schema):
            assert "$ref" not in node and "anyOf" not in node and "title" not in node, path
            assert (
                "type" in node
                or node.get("x-kubernetes-int-or-string")
                or node.get("x-kubernetes-preserve-unknown-fields")
            ), path
            assert node.get("default", 0) is not None, path


def test_modelversion_spec_is_immutable_by_cel() -> None:
    spec = crdgen.modelversion_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    rules = spec["spec"]["x-kubernetes-validations"]
    assert rules == [{"rule": "self == oldSelf", "message": IMMUTABLE_MESSAGE}]
    assert "create a new ModelVersion" in IMMUTABLE_MESSAGE.replace("Create", "create")


def test_defaults_reach_the_api_server() -> None:
    spec = crdgen.modeldeployment_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    props = spec["properties"]["spec"]["properties"]
    canary = props["strategy"]["properties"]["canary"]
    assert props["strategy"]["default"] == {}
    assert canary["properties"]["steps"]["default"] == [
        {"weight": 10, "pause": "60s"},
        {"weight": 50, "pause": "60s"},
    ]
    assert props["analysis"]["properties"]["failureLimit"]["default"] == 2
    assert props["replicas"]["default"] == 1


def test_printer_columns_and_names() -> None:
    md = crdgen.modeldeployment_crd()["spec"]
    mv = crdgen.modelversion_crd()["spec"]
    assert md["names"]["shortNames"] == ["md"] and mv["names"]["shortNames"] == ["mv"]
    columns = [c["name"] for c in md["versions"][0]["additionalPrinterColumns"]]
    assert columns == ["Model", "Version", "Phase", "Stable", "Canary", "Weight", "Age"]
    assert md["versions"][0]["subresources"] == {"status": {}}


def test_files_are_valid_yaml_with_header() -> None:
    for name, text in crdgen.render().items():
        assert text.startswith(crdgen.HEADER), name
        assert yaml.safe_load(text)["kind"] == "CustomResourceDefinition"
