"""The runtime tier: Rewind's code inside a real model server, as a local process (seconds, once the cached
MLServer venv exists; building it takes about a minute from PyPI). `make test-runtime`."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/runtime/" in str(item.fspath):
            item.add_marker(pytest.mark.runtime)
