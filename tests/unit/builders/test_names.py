"""Names and labels of the serving objects follow the contract and are always valid label values."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from rewind.api.common import SEMVER_PATTERN
from rewind.builders import names

LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def test_object_names() -> None:
    assert names.service_name("fraud") == "fraud"
    assert names.track_service_name("fraud", "canary") == "fraud-canary"
    assert names.deployment_name("fraud", "stable") == "fraud-stable"


def test_label_keys_use_the_prefix() -> None:
    assert names.DEPLOYMENT_LABEL == "rewind.dev/deployment"
    assert names.TRACK_LABEL == "rewind.dev/track"
    assert names.VERSION_LABEL == "rewind.dev/version"
    assert names.MODEL_LABEL == "rewind.dev/model"
    assert names.CONTENT_DIGEST_ANNOTATION == "rewind.dev/content-digest"
    assert names.VERSION_ANNOTATION == "rewind.dev/version"


def test_pod_labels_map_build_metadata_plus_to_underscore() -> None:
    labels = names.pod_labels(md="fraud", model="fraud-detector", track="canary", version="1.0.0+build.1")
    assert labels == {
        "rewind.dev/deployment": "fraud",
        "rewind.dev/model": "fraud-detector",
        "rewind.dev/track": "canary",
        "rewind.dev/version": "1.0.0_build.1",
    }


def test_plain_version_is_kept_as_is() -> None:
    assert names.label_value("1.1.0") == "1.1.0"
    assert names.label_value("2.0.0-rc.1") == "2.0.0-rc.1"


def test_overlong_or_badly_ended_values_are_hashed_but_distinct() -> None:
    long_a = "1.0.0-" + "a" * 80
    long_b = "1.0.0-" + "a" * 79 + "b"
    for value in (long_a, long_b, "1.0.0-alpha-"):
        assert LABEL_VALUE.match(names.label_value(value))
        assert len(names.label_value(value)) <= 63
    assert names.label_value(long_a) != names.label_value(long_b)
    assert names.label_value(long_a) == names.label_value(long_a)


def test_selector_never_has_the_version() -> None:
    assert names.selector_labels(md="fraud") == {"rewind.dev/deployment": "fraud"}
    assert names.selector_labels(md="fraud", track="stable") == {
        "rewind.dev/deployment": "fraud",
        "rewind.dev/track": "stable",
    }


@given(st.from_regex(SEMVER_PATTERN, fullmatch=True))
def test_every_semver_becomes_a_valid_label_value(version: str) -> None:
    value = names.label_value(version)
    assert len(value) <= 63
    assert LABEL_VALUE.match(value)
