"""Issue 10, finding 4: a placeholder in a regex matcher matches its value only, on a real Prometheus."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from rewind.analysis.prometheus import PrometheusProvider
from rewind.analysis.render import QueryContext, render
from tests.e2e.support import Exporter, Prometheus, wait_for

# Series that a regex built from an unescaped version would also match (`.` is any character, and `+`
# repeats), next to the version itself.
VERSIONS = ("1.0.0", "1x0x0", "1.0.0+build.1", "1.0.00build.1")


@pytest.fixture
def series(prometheus: Prometheus) -> Iterator[str]:
    run = uuid.uuid4().hex[:8]
    exporters = []
    for i, version in enumerate(VERSIONS):
        exporter = Exporter(samples={"rewind_e2e_regex": 1.0}).start()
        exporters.append(exporter)
        prometheus.add_target(f"regex-{run}-{i}", exporter.address, {"run": run, "version": version})
    wait_for(
        lambda: len(prometheus.query(f'rewind_e2e_regex{{run="{run}"}}')) == len(VERSIONS),
        timeout=60,
        what="every version's series scraped",
    )
    yield run
    for i, exporter in enumerate(exporters):
        prometheus.remove_target(f"regex-{run}-{i}")
        exporter.stop()


@pytest.mark.parametrize("version", ["1.0.0", "1.0.0+build.1"])
def test_a_version_in_a_regex_matcher_matches_only_itself(prometheus: Prometheus, series: str, version: str) -> None:
    selector = f'rewind_e2e_regex{{run="{series}", version=~"{{{{ version }}}}"}}'
    ctx = QueryContext(
        namespace="ml", deployment="fraud", model="fraud", version=version, track="canary", interval="30s"
    )

    def matched(promql: str) -> set[str]:
        return {sample["metric"]["version"] for sample in prometheus.query(promql)}

    assert matched(render(selector, ctx)) == {version}
    # Without the RE2 escaping the same selector also matches a look-alike (1x0x0), or misses the version
    # itself and matches another (`0+` repeats the 0 before it): the finding, on the same server.
    assert matched(selector.replace("{{ version }}", version)) != {version}
    negated = selector.replace("=~", "!~")
    assert matched(render(negated, ctx)) == set(VERSIONS) - {version}
    # And as the operator sends it, through its provider: one series, so one value.
    provider = PrometheusProvider(url=prometheus.url)
    try:
        assert provider.query(f"count({render(selector, ctx)})") == 1.0
    finally:
        provider.close()
