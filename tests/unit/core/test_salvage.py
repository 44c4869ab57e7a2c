"""Salvaging a status that does not parse (pure): the latch and the record are kept, the rest reset."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rewind.api.modeldeployment import ModelDeploymentStatus
from rewind.core.salvage import describe, salvage

DIGEST = "sha256:" + "a" * 64
ENTRY = {"version": "1.0.0", "track": "stable", "from": "2025-03-01T12:00:00Z"}


def test_the_failed_latch_and_parsable_history_survive() -> None:
    raw = {
        "phase": "Nonsense",
        "canary": {"version": 7},
        "stableVersion": "1.0.0",
        "lastHealthyVersion": "0.9.0",
        "failedDigests": [{"digest": DIGEST, "version": "1.1.0", "at": "2025-03-01T12:00:00Z"}, {"digest": "x"}],
        "history": [ENTRY, {"version": "bad"}],
    }
    kept = salvage(raw, serving="2.0.0")
    assert kept.stable_version == "1.0.0", "the status' own record wins over what the Deployment says"
    assert kept.last_healthy_version == "0.9.0"
    assert [d.digest for d in kept.failed_digests or []] == [DIGEST]
    assert [e.version for e in kept.history or []] == ["1.0.0"]
    assert (kept.phase, kept.canary, kept.conditions) == (None, None, None)


def test_nothing_usable_gives_the_serving_version_or_nothing() -> None:
    assert salvage("garbage", serving=None) == ModelDeploymentStatus(history=None, failed_digests=None)
    assert salvage({"stableVersion": 3, "stableContentDigest": DIGEST}, serving="1.2.0").stable_version == "1.2.0"
    assert salvage({"stableVersion": 3, "stableContentDigest": DIGEST}, serving=None).stable_content_digest is None


def test_the_problem_is_named_as_a_status_field() -> None:
    with pytest.raises(ValidationError) as raised:
        ModelDeploymentStatus.model_validate({"canary": {"version": 7}})
    assert describe(raised.value).startswith("status.canary")
