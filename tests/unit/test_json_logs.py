"""`--log-format=json` (the chart's `logFormat: json`) turns the operator's log lines into JSON objects."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_kopf_run_log_format_json_emits_one_json_object_per_line(tmp_path: Path) -> None:
    # A stand-in for rewind.main: it logs the way controller/events.py does, then leaves before kopf
    # would connect to a cluster. What is checked is the logging that `kopf run` configures.
    (tmp_path / "decides.py").write_text(
        "import logging, os, sys\n"
        "logging.getLogger('rewind.controller.events').warning("
        "'%s/%s %s: %s', 'risk', 'fraud', 'RolledBack', 'rolled back 2.0.0 to 1.1.0')\n"
        "sys.stderr.flush()\n"
        "os._exit(0)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    for flags, extra in ((["--log-format=json"], {}), ([], {"KOPF_RUN_LOG_FORMAT": "json"})):
        run = subprocess.run(
            [sys.executable, "-m", "kopf", "run", *flags, "--standalone", "-m", "decides"],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        lines = [json.loads(line) for line in run.stderr.splitlines() if line.strip()]
        assert lines, run.stderr
        record = lines[-1]
        assert record["message"] == "risk/fraud RolledBack: rolled back 2.0.0 to 1.1.0"
        assert record["severity"] == "warn"
        assert "timestamp" in record
