"""ServingRecord: the durable serving record of one ModelDeployment for one day.

`status.history` keeps the newest entries and goes with the ModelDeployment; the serving record keeps
every serving period by time (docs/api.md, "The serving record"). One object holds the periods of one
deployment that began on one UTC day (`<deployment>-<yyyymmdd>`), each with its canary weights and the
checks that decided how it went, and a snapshot of every ModelVersion that served in them, so that the
exact model can be stood up again after the ModelVersion object is gone.

The operator only writes these objects (it never watches or caches them): a period is written when it
begins and each time it changes, keyed by its start and version, so writing it again changes nothing.
A period that has ended (`to` set) can not change any more, and none is ever removed from its object:
the API server checks both. Objects are deleted only when their retention has passed.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from rewind.api.common import ApiModel, DnsLabel, ShortString, StringMap, cel
from rewind.api.modeldeployment import HistoryEntry, Retention
from rewind.api.modelversion import ModelVersionSpec

KIND = "ServingRecord"
PLURAL = "servingrecords"
DEFAULT_RETENTION = "2160h"  # 90 days
# Periods that began on one day in one deployment: each rollout opens one or two (a canary; a direct
# update, a rollback). More than this in a day is refused by the API server (the write is reported).
ENTRIES_LIMIT = 128
VERSIONS_LIMIT = 64

ENDED_MESSAGE = "a serving period that has ended is part of the record and can not change"
KEPT_MESSAGE = "the serving record only grows: a period or a version snapshot can not be removed"
SNAPSHOT_MESSAGE = "a ModelVersion snapshot is immutable (it is named by its content digest)"
IDENTITY_MESSAGE = "deployment, model and day name the record and can not change"


class VersionSnapshot(ApiModel):
    """A ModelVersion as it served: its name, its own labels (not Rewind's) and its whole spec."""

    name: ShortString
    labels: StringMap | None = None
    spec: ModelVersionSpec


# Only the operator writes these maps: no per-field ownership to track, so managedFields stays a few
# lines instead of repeating every key of every period (about a quarter of the object otherwise).
ATOMIC = {"x-kubernetes-map-type": "atomic"}

RecordEntries = Annotated[
    dict[
        str, Annotated[HistoryEntry, Field(json_schema_extra=cel("!has(oldSelf.to) || self == oldSelf", ENDED_MESSAGE))]
    ],
    Field(max_length=ENTRIES_LIMIT),
]
Snapshots = Annotated[
    dict[str, Annotated[VersionSnapshot, Field(json_schema_extra=cel("self == oldSelf", SNAPSHOT_MESSAGE))]],
    Field(max_length=VERSIONS_LIMIT),
]


class ServingRecordSpec(ApiModel):
    deployment: DnsLabel = Field(description="The ModelDeployment these periods belong to.")
    deployment_uid: ShortString | None = Field(
        default=None, description="Its uid when last written (a deployment deleted and created again differs)."
    )
    model: DnsLabel = Field(description="The model family it serves.")
    day: Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")] = Field(
        description="The UTC day the periods began (YYYY-MM-DD)."
    )
    retention: Retention = Field(description="How long the periods are kept after they end (when last written).")
    updated_at: ShortString = Field(description="RFC 3339 time of the last write.")
    entries: RecordEntries = Field(
        default_factory=dict,
        description="Serving periods by `<from>/<version>`: version, content digest, track, from, to, outcome, "
        "reason, canary weights and the deciding checks.",
        json_schema_extra={**cel("oldSelf.all(k, k in self)", KEPT_MESSAGE), **ATOMIC},
    )
    versions: Snapshots = Field(
        default_factory=dict,
        description="The ModelVersions that served, by content digest: enough to create them again.",
        json_schema_extra={**cel("oldSelf.all(k, k in self)", KEPT_MESSAGE), **ATOMIC},
    )


IDENTITY_RULE = {
    "rule": "self.deployment == oldSelf.deployment && self.model == oldSelf.model && self.day == oldSelf.day",
    "message": IDENTITY_MESSAGE,
}


class ServingRecord(ApiModel):
    api_version: str = "rewind.dev/v1alpha1"
    kind: Literal["ServingRecord"] = "ServingRecord"
    metadata: dict[str, object] = Field(default_factory=dict)
    spec: ServingRecordSpec
