"""Kill points for the e2e tier: the operator kills itself (SIGKILL) at a named point of a transition.

`REWIND_KILL_AT=<point>:<Event reason>`, e.g. `acted:CanaryStep`, kills the process the first time a
decision that posts that Event reaches the point: `intent` (its intent written, nothing carried out) or
`acted` (every action carried out, the status write that clears the intent not made). An operator
started again without the variable must then finish the transition exactly once (docs/api.md, "Crash
consistency"). Unset, as always outside tests, it does nothing.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Sequence

from rewind.core.model import Action, Emit

log = logging.getLogger(__name__)
VARIABLE = "REWIND_KILL_AT"


def reached(point: str, actions: Sequence[Action]) -> None:
    wanted = os.environ.get(VARIABLE)
    if not wanted:
        return
    at, _, reason = wanted.partition(":")
    if at == point and any(isinstance(a, Emit) and a.reason == reason for a in actions):
        log.warning("%s=%s: killing the operator here", VARIABLE, wanted)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)
