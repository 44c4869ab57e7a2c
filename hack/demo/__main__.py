"""`make demo`: bring everything up, show a bad model version rolled back by itself, tear it all down.

The serving pods really run, on a real node of the demo's own cluster (one real node per machine), from
images built on this machine. REWIND_DEMO_KEEP=1 keeps the work directory (logs of the cluster, the
operator and Prometheus) after a pass.
Exit 0 when every check passed; 1 on a failure or a deadline; 130 on Ctrl-C. Cleanup always runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import FrameType

from .console import Deadline, DemoError, banner, reset_clock, say
from .scenario import Demo
from .stack import Stack

SETUP_SECONDS = 1800.0  # images (minutes when cold, cached after), control plane, real node, Prometheus, operator
SCENARIO_SECONDS = 600.0  # training in a pod, serving pods, the rollout and the rollback


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    signal.signal(signal.SIGTERM, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix="rewind-demo-"))
    stack = Stack(workdir)
    demo: Demo | None = None
    started = time.monotonic()
    code = 1
    try:
        banner(f"setup (work directory {workdir})")
        stack.up(Deadline(SETUP_SECONDS, "setup"))
        stack.namespace("rewind-demo", Deadline(60, "setup"))
        setup = time.monotonic() - started
        reset_clock()
        demo = Demo(stack)
        demo.run(Deadline(SCENARIO_SECONDS, "demo"))
        total = time.monotonic() - started
        banner(f"demo passed in {total:.0f}s (setup {setup:.0f}s, models and rollout {total - setup:.0f}s)")
        code = 0
    except DemoError as exc:
        print(f"\ndemo FAILED: {exc}", file=sys.stderr, flush=True)
        tail = stack.operator_tail()
        if tail:
            print(f"\n-- last lines of the operator log ({stack.operator_log}):\n{tail}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\ndemo interrupted", file=sys.stderr, flush=True)
        code = 130
    except Exception:
        traceback.print_exc()
        print("\ndemo FAILED with an unexpected error (above)", file=sys.stderr, flush=True)
    finally:
        # A second Ctrl-C must not leave a control plane or servers behind: cleanup runs to its end.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        banner("cleanup")
        steps = [demo.close] if demo is not None else []
        for step in [*steps, stack.down]:
            try:
                step()
            except Exception as exc:
                print(f"cleanup: {exc!r}", file=sys.stderr, flush=True)
        if code == 0 and not os.environ.get("REWIND_DEMO_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            say("cleanup", f"logs kept in {workdir}")
    return code


if __name__ == "__main__":
    sys.exit(main())
