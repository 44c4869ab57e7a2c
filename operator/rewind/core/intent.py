"""Intent before action: a decision's effects are written into status before any of them is carried out.

A decision that does more than keep the serving objects as they are (an Event, a ModelVersion mark, a
spec.version rewrite, a request annotation removed, a serving period written to the durable record) is a
transition, and a transition is never decided
twice. Its intent goes to the API server first: every action of the decision (`status.intent.actions`)
and the status they lead to (`status.intent.status`); then the actions are carried out, in order; then
that status is written and the intent cleared. What users see (phase, history, observedGeneration)
changes only then, as if the decision had been carried out at once. An operator killed anywhere in
between finds the intent when it starts again and finishes it before it decides anything. So a
decision whose effects began is never replayed from an older status: no replica count flaps back, no
Event, time or reason is made up a second time, and no action is lost.

Finishing an intent again is harmless: every action is idempotent against what is there (a Deployment
already so, a ModelVersion already in that phase, a spec.version that no longer says `expected`, an
annotation already gone, a serving period keyed by its start and version), and an Event is named after
the intent's serial and its place in it, so the API server refuses (409) to post it twice.

Decisions that only keep serving objects as they are (EnsureTrack, ScaleTrack, SetTraffic and nothing
else) act first and write status after: the next decision derives the same actions again, so losing
that write loses nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from rewind.api.modeldeployment import Intent, IntentAction, ModelDeploymentStatus
from rewind.core.model import (
    Action,
    ClearRequest,
    Emit,
    EnsureTrack,
    MarkVersion,
    RecordServing,
    RewriteVersion,
    ScaleTrack,
    SetTraffic,
)

EFFECTS = (Emit, MarkVersion, RewriteVersion, ClearRequest, RecordServing)
_KINDS: dict[str, type[Any]] = {
    k.__name__: k
    for k in (EnsureTrack, ScaleTrack, SetTraffic, RewriteVersion, MarkVersion, Emit, ClearRequest, RecordServing)
}
_TEXT = 4096


def _target(action: Action) -> str | None:
    """What a level action sets (a track's Deployment, the route); None for an effect."""
    if isinstance(action, EnsureTrack | ScaleTrack):
        return action.track
    if isinstance(action, SetTraffic):
        return "route"
    return None


def compact(actions: Sequence[Action]) -> tuple[Action, ...]:
    """`actions` without level actions that a later one for the same target overrides.

    A decision may keep a track as it is and then move it on (serve the current step, then advance):
    carried out again after the move, the first would scale the track back for a moment.
    """
    last = {t: i for i, a in enumerate(actions) if (t := _target(a)) is not None}
    return tuple(a for i, a in enumerate(actions) if (t := _target(a)) is None or last[t] == i)


def has_effects(actions: Sequence[Action]) -> bool:
    return any(isinstance(a, EFFECTS) for a in actions)


def encode(action: Action) -> IntentAction:
    fields: dict[str, Any] = {k: v for k, v in vars(action).items() if v is not None}
    for key in ("reason", "message"):
        if isinstance(fields.get(key), str):
            fields[key] = fields[key][:_TEXT]
    if fields.get("failed") is False:
        del fields["failed"]
    return IntentAction.model_validate({"kind": type(action).__name__, **fields})


def decode(recorded: IntentAction) -> Action:
    kind = _KINDS[recorded.kind]
    if kind is RecordServing and recorded.entry is not None:
        return RecordServing(entry=recorded.entry)
    fields = recorded.model_dump(exclude={"kind"}, exclude_none=True)
    if kind is MarkVersion:
        fields.setdefault("failed", False)
    return cast(Action, kind(**fields))


def serial(status: ModelDeploymentStatus) -> int:
    return status.intent.serial if status.intent is not None else 0


def pending(status: ModelDeploymentStatus) -> tuple[Action, ...]:
    """The actions of a decision that may not all have been carried out (empty: none)."""
    if status.intent is None or not status.intent.actions:
        return ()
    return tuple(decode(a) for a in status.intent.actions)


def begin(
    before: ModelDeploymentStatus, after: ModelDeploymentStatus, actions: Sequence[Action]
) -> tuple[ModelDeploymentStatus, ModelDeploymentStatus] | None:
    """For a transition from `before` to `after` by `actions`: (the status to write before acting, the
    status to write once every action is done). None when `actions` have no effects (act, then write).
    What to carry out is then `pending(first)`, the same the first time and on every replay.

    The first is `before` with the intent (the actions and `after`) and nothing else: what users see
    (phase, history, observedGeneration) changes only once the actions are done.
    """
    if not has_effects(actions):
        return None
    number = max(serial(after), serial(before) + 1)  # the core counts it already (`Plan.decision`)
    done = after.model_copy(update={"intent": Intent(serial=number)})
    target = {k: v for k, v in done.wire().items() if k != "intent"}
    recorded = [encode(a) for a in compact(actions)]
    first = before.model_copy(update={"intent": Intent(serial=number, actions=recorded, status=target)})
    return first, done


def finished(status: ModelDeploymentStatus) -> ModelDeploymentStatus:
    """The status that `status`'s pending intent leads to, once its actions are carried out."""
    if status.intent is None or not status.intent.actions:
        return status
    target = ModelDeploymentStatus.model_validate(status.intent.status or status.wire())
    return target.model_copy(update={"intent": Intent(serial=status.intent.serial)})


def event_key(number: int, index: int) -> str:
    """What names the Event of the `index`-th action of intent `number`: the same each time it is finished."""
    return f"{number}-{index}"
