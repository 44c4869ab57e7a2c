"""The Failed latch by content: a digest that failed here stays Failed whatever object carries it.

The label `rewind.dev/failed` on a ModelVersion object is lost when the object is deleted and created
again (a GitOps sync from Git does exactly that). So each deployment also keeps, in its status, the
content digests that failed there (`status.failedDigests`, the newest FAILED_DIGESTS_LIMIT). A version
whose digest is recorded is Failed for the core from the moment it appears, and its object gets the
label back, so that every other deployment of the model refuses it too.

Lifting stays one human act: removing the label. The ModelVersion handler records when that happened
(`status.latchLiftedAt`); a record older than the lift of an object with the same digest is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from rewind.api.modeldeployment import FAILED_DIGESTS_LIMIT, FailedDigest, ModelDeploymentStatus
from rewind.core.model import Emit, MarkVersion, VersionInfo, parse_time
from rewind.core.plan import Plan

LIMIT = FAILED_DIGESTS_LIMIT


def _lifted(record: FailedDigest, versions: Mapping[str, VersionInfo]) -> bool:
    at = parse_time(record.at)
    return any(
        i.content_digest == record.digest and i.lifted_at is not None and i.lifted_at > at for i in versions.values()
    )


def apply(status: ModelDeploymentStatus, versions: Mapping[str, VersionInfo]) -> dict[str, VersionInfo]:
    """`versions` as the guard must see them: Failed also when their content is latched in `status`."""
    latched = {r.digest for r in status.failed_digests or [] if not _lifted(r, versions)}
    return {
        v: replace(i, failed=True) if i.content_digest in latched and not i.failed else i for v, i in versions.items()
    }


def remember(records: list[FailedDigest] | None, record: FailedDigest) -> list[FailedDigest]:
    """`records` with `record` added (one per digest, the first failure kept), newest LIMIT kept."""
    records = list(records or [])
    if any(r.digest == record.digest for r in records):
        return records
    return [*records, record][-LIMIT:]


def record(plan: Plan, *, version: str, digest: str | None, reason: str) -> None:
    """Remember that `version` (content `digest`) failed in this deployment now."""
    if digest is None:
        return
    entry = FailedDigest(digest=digest, version=version, at=plan.stamp, reason=reason[:4096])
    plan.update(failed_digests=remember(plan.status.failed_digests, entry))


def hold(plan: Plan) -> None:
    """Before deciding: drop lifted records, put the label back on re-created objects, latch what is left.

    An object whose label is gone but whose phase still says Failed is being lifted right now (the
    ModelVersion handler has not recorded it yet): it stays latched but is not labelled again, so a
    human's act is never undone.
    """
    raw = plan.observed.versions
    records = plan.status.failed_digests or []
    kept = [r for r in records if not _lifted(r, raw)]
    for gone in (r for r in records if r not in kept):
        message = f"{gone.version} ({gone.digest}) may serve again: its Failed latch was lifted"
        plan.act(Emit("Normal", "LatchLifted", message))
    if len(kept) != len(records):
        plan.update(failed_digests=kept or None)
    for v, info in sorted(raw.items()):
        found = next((r for r in kept if r.digest == info.content_digest), None)
        if found is not None and not info.failed and info.phase != "Failed":
            reason = f"content {found.digest} failed before: {found.reason or 'rolled back'}"
            plan.act(MarkVersion(v, "Failed", reason, failed=True))
    plan.observed = replace(plan.observed, versions=apply(plan.status, raw))
