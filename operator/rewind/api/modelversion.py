"""ModelVersion: one immutable, content-addressed model version (the complete version tuple)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from rewind.api.common import (
    URI_PATTERN,
    ApiModel,
    Condition,
    Digest,
    DnsLabel,
    Quantity,
    Semver,
    ShortString,
    StringMap,
    Text,
)

IMMUTABLE_MESSAGE = (
    "ModelVersion spec is immutable: it identifies exactly one model. "
    "Create a new ModelVersion with a new spec.version instead (labels and annotations stay editable)."
)

MvPhase = Literal["Available", "Staging", "Production", "Archived", "Failed", "Invalid"]


class Artifact(ApiModel):
    """Where the weights are and how to check them."""

    uri: Annotated[str, Field(pattern=URI_PATTERN, max_length=2048)] = Field(
        description="Location of the weights: s3://, gs://, http(s):// or file:// (a path on a volume)."
    )
    digest: Digest = Field(
        description="sha256 of the artifact; the serving pod refuses to start when the download differs."
    )
    format: ShortString | None = Field(default=None, description="e.g. sklearn, onnx, xgboost.")
    # No schema default: a default would be added to every stored spec and change its content digest.
    packaging: Literal["File", "Directory"] | None = Field(
        default=None,
        description=(
            "File (when absent): the artifact is one file, served at /models/model. Directory: the artifact is the"
            " canonical tar of a model directory (a file:// directory is read as one), whose sha256 is the digest;"
            " the init step verifies it and unpacks it as the directory /models/model."
        ),
    )


class SecretKeySelector(ApiModel):
    name: DnsLabel = Field(description="Secret name.")
    key: ShortString = Field(description="Key in the Secret.")


class EnvVarSource(ApiModel):
    secret_key_ref: SecretKeySelector | None = None


class EnvVar(ApiModel):
    name: ShortString
    value: Text | None = None
    value_from: EnvVarSource | None = None


class Resources(ApiModel):
    """Container resources, as in a Pod."""

    requests: Annotated[dict[str, Quantity], Field(max_length=16)] | None = None
    limits: Annotated[dict[str, Quantity], Field(max_length=16)] | None = None


class Runtime(ApiModel):
    """How the serving runtime starts."""

    image: Annotated[str, Field(min_length=1, max_length=512)] = Field(
        description="Serving runtime image. A tag without @sha256: is accepted but flagged by a condition."
    )
    args: Annotated[list[Text], Field(max_length=64)] | None = None
    env: Annotated[list[EnvVar], Field(max_length=64)] | None = None
    port: int = Field(default=8080, ge=1, le=65535, description="Port the runtime serves on.")
    resources: Resources | None = None


class FeatureDefinition(ApiModel):
    name: ShortString
    dtype: ShortString | None = Field(default=None, description="e.g. float64, int64, string.")
    transformation: Text | None = Field(default=None, description="How the feature is computed.")


class ModelFeatures(ApiModel):
    """The feature definitions and transformations the model was trained on."""

    schema_: ShortString = Field(alias="schema", description="Feature schema name, e.g. fraud-features.")
    version: ShortString = Field(description="Feature schema version the model was trained on.")
    definitions: Annotated[list[FeatureDefinition], Field(max_length=256)] | None = Field(
        default=None, description="The features themselves, for lineage diffs."
    )


class DatasetSnapshot(ApiModel):
    uri: Annotated[str, Field(max_length=2048)] = Field(description="Where the training data snapshot is.")
    digest: Digest | None = None
    name: ShortString | None = Field(default=None, description="The dataset's name where it was logged (e.g. MLflow).")
    source_digest: ShortString | None = Field(
        default=None,
        description="The source system's own fingerprint of the dataset (e.g. MLflow's dataset digest), not a sha256.",
    )


class Lineage(ApiModel):
    """Where the model came from."""

    code_repository: Annotated[str, Field(max_length=2048)] | None = None
    code_commit: Annotated[str, Field(pattern=r"^[0-9a-f]{7,64}$", max_length=64)] | None = Field(
        default=None, description="Training code commit (hex)."
    )
    code_dirty: bool | None = Field(
        default=None,
        description="True: the working tree had uncommitted changes at registration (codeCommit is not all the code).",
    )
    dataset_snapshot: DatasetSnapshot | None = None
    hyperparameters: StringMap | None = None
    training_run: ShortString | None = None
    created_by: ShortString | None = None
    parent_version: Semver | None = None
    input_schema: Annotated[list[FeatureDefinition], Field(max_length=256)] | None = Field(
        default=None, description="The model's input signature as the registry recorded it (e.g. an MLflow signature)."
    )
    links: StringMap | None = Field(
        default=None, description="Where to read more, by name: e.g. mlflowRun, mlflowModelVersion (URLs or URIs)."
    )


class ModelVersionSpec(ApiModel):
    model: DnsLabel = Field(description="Model family name (DNS label), e.g. fraud-detector.")
    version: Semver = Field(description="Semantic version of this model, e.g. 1.1.0.")
    artifact: Artifact
    runtime: Runtime
    features: ModelFeatures | None = None
    lineage: Lineage | None = None


class LifecycleEntry(ApiModel):
    """One lifecycle transition of a ModelVersion."""

    time: ShortString = Field(description="RFC 3339 time of the transition.")
    phase: MvPhase
    deployment: ShortString | None = Field(default=None, description="The ModelDeployment involved.")
    reason: Text | None = None


class ModelVersionStatus(ApiModel):
    content_digest: Digest | None = Field(
        default=None, description="sha256 of the canonical JSON of spec: the immutable identity."
    )
    phase: MvPhase | None = None
    history: Annotated[list[LifecycleEntry], Field(max_length=100)] | None = None
    conditions: Annotated[list[Condition], Field(max_length=16)] | None = None
    observed_generation: int | None = None
    latch_lifted_at: ShortString | None = Field(
        default=None,
        description="RFC 3339 time a human last lifted the Failed latch (removed the rewind.dev/failed label).",
    )


class ModelVersion(ApiModel):
    """A ModelVersion object as stored (metadata kept loosely typed)."""

    api_version: str = "rewind.dev/v1alpha1"
    kind: Literal["ModelVersion"] = "ModelVersion"
    metadata: dict[str, object] = Field(default_factory=dict)
    spec: ModelVersionSpec
    status: ModelVersionStatus = Field(default_factory=ModelVersionStatus)
