"""The machine state model: what a work unit's signals say about it, as stretches of time (no I/O).

A work unit has one current state at a time. The machine signals a *signal state* (a PackML state
number, an enumerated value or a running flag) and optionally a *reason code*; the reason may refine
the signal state (a stopped machine with a changeover reason is in setup, a suspended one with a
starved reason is idle_starved). Time is cut into intervals that never overlap and leave no gap from
the first signal on: a change closes the open interval at the moment the next one opens.

Unplanned stops shorter than the micro-stop threshold are classified automatically when they close.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import IntEnum, StrEnum


class MachineState(StrEnum):
    """The MES's machine states (issue 4); a `*_STOP_STATES` set says how each one counts."""

    RUNNING = "running"
    IDLE = "idle"
    IDLE_STARVED = "idle_starved"
    IDLE_BLOCKED = "idle_blocked"
    DOWN = "down"
    SETUP = "setup"
    PLANNED_STOP = "planned_stop"


S = MachineState
IDLE_STATES = frozenset({S.IDLE, S.IDLE_STARVED, S.IDLE_BLOCKED})
# Stops that are an availability or performance loss; only these can become micro-stops.
UNPLANNED_STOP_STATES = IDLE_STATES | {S.DOWN}


class PackMLState(IntEnum):
    """PackTags `StateCurrent` numbers (STANDARDS §5.1)."""

    UNDEFINED = 0
    CLEARING = 1
    STOPPED = 2
    STARTING = 3
    IDLE = 4
    SUSPENDED = 5
    EXECUTE = 6
    STOPPING = 7
    ABORTING = 8
    ABORTED = 9
    HOLDING = 10
    HELD = 11
    UNHOLDING = 12
    SUSPENDING = 13
    UNSUSPENDING = 14
    RESETTING = 15
    COMPLETING = 16
    COMPLETE = 17


P = PackMLState
# Held (internal cause) and the abort/stop path are down; Suspended (external cause) is idle until a
# reason says starved or blocked. Resetting and Starting prepare a run and count as idle: a
# changeover is signalled by a changeover reason, not guessed from a transient acting state.
# Unholding still recovers from the internal cause, so it stays down until Execute.
PACKML_TO_MACHINE_STATE: dict[PackMLState, MachineState] = {
    P.CLEARING: S.DOWN,
    P.STOPPED: S.IDLE,
    P.STARTING: S.IDLE,
    P.IDLE: S.IDLE,
    P.SUSPENDED: S.IDLE,
    P.EXECUTE: S.RUNNING,
    P.STOPPING: S.DOWN,
    P.ABORTING: S.DOWN,
    P.ABORTED: S.DOWN,
    P.HOLDING: S.DOWN,
    P.HELD: S.DOWN,
    P.UNHOLDING: S.DOWN,
    P.SUSPENDING: S.IDLE,
    P.UNSUSPENDING: S.IDLE,
    P.RESETTING: S.IDLE,
    P.COMPLETING: S.IDLE,
    P.COMPLETE: S.IDLE,
}


class StateEncoding(StrEnum):
    """How a state signal carries the machine state."""

    PACKML = "packml"
    ENUM = "enum"
    RUNNING_FLAG = "running_flag"


class UnreadableSignal(ValueError):
    """The value cannot be read as a state or reason; the sample is counted and skipped."""


def _integer(value: object) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def map_key(value: object) -> str:
    """The text form of a raw value as `value_map` keys are written: 3.0 -> "3", True -> "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    number = _integer(value)
    return str(number) if number is not None else str(value).strip()


def signal_state(encoding: StateEncoding, value: object, value_map: Mapping[str, str] | None) -> MachineState | None:
    """The machine state a state signal's value means; None for PackML Undefined (no information).

    `value_map` (enum: required; packml and running_flag: optional overrides) maps a raw value's
    text (`map_key`) to a machine state name.
    """
    if value is None:
        raise UnreadableSignal("the source sent null")
    if value_map:
        named = value_map.get(map_key(value))
        if named is not None:
            return MachineState(named)
    if encoding is StateEncoding.PACKML:
        number = _integer(value)
        if number is None or number not in PackMLState._value2member_map_:
            raise UnreadableSignal(f"{value!r} is not a PackML state number (0 to 17)")
        if number == P.UNDEFINED:
            return None
        return PACKML_TO_MACHINE_STATE[PackMLState(number)]
    if encoding is StateEncoding.RUNNING_FLAG:
        number = _integer(value)
        if number not in (0, 1) and map_key(value).lower() not in ("true", "false"):
            raise UnreadableSignal(f"{value!r} is not a running flag (true/false or 1/0)")
        running = number == 1 or map_key(value).lower() == "true"
        return S.RUNNING if running else S.IDLE
    raise UnreadableSignal(f"{value!r} is not in the tag's state map ({', '.join(sorted(value_map or {}))})")


def signal_reason(value: object, value_map: Mapping[str, str] | None) -> str | None:
    """The reason code a reason signal's value means; 0, empty text and null mean "no reason"."""
    if value is None:
        return None
    key = map_key(value)
    if value_map and key in value_map:
        return value_map[key] or None
    if key in ("", "0", "false"):
        return None
    return key


ReasonStates = Callable[[str], MachineState | None]
"""The machine state a reason code implies (from the reason tree), None when it implies none."""


def derive(signalled: MachineState, reason: str | None, reason_states: ReasonStates) -> MachineState:
    """The state of a work unit from what it signals and the reason it gives.

    Running is never overridden by a reason. A planned, setup or down reason makes any stop that; a
    starved or blocked reason refines only an idle machine (a machine held for an internal cause stays down).
    """
    if signalled is S.RUNNING or reason is None:
        return signalled
    implied = reason_states(reason)
    if implied is None or implied is S.RUNNING:
        return signalled
    if implied in (S.IDLE_STARVED, S.IDLE_BLOCKED, S.IDLE):
        return implied if signalled in IDLE_STATES else signalled
    return implied


class ClassifiedBy(StrEnum):
    MACHINE = "machine"
    AUTO = "auto"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Situation:
    """A work unit's current state and the open interval it is in (times in epoch ms)."""

    state: MachineState
    reason: str | None
    since_ms: int
    signalled: MachineState
    signalled_reason: str | None
    classified_by: ClassifiedBy | None


@dataclass(frozen=True, slots=True)
class ClosedInterval:
    state: MachineState
    signalled: MachineState
    reason: str | None
    started_ms: int
    ended_ms: int
    classified_by: ClassifiedBy | None
    micro_stop: bool


@dataclass(frozen=True, slots=True)
class Step:
    """What one signal did: the situation after it, the interval it closed, whether the open one changed."""

    situation: Situation
    closed: ClosedInterval | None
    changed: bool
    auto_classified: bool


@dataclass(frozen=True, slots=True)
class MicroStopRule:
    """Unplanned stops shorter than `threshold_ms` are micro-stops; one without a reason gets `reason`."""

    threshold_ms: int
    reason: str | None


def _close(current: Situation, at_ms: int, rule: MicroStopRule) -> tuple[ClosedInterval, bool]:
    short = current.state in UNPLANNED_STOP_STATES and at_ms - current.since_ms < rule.threshold_ms
    reason, by = current.reason, current.classified_by
    auto = short and reason is None and rule.reason is not None
    if auto:
        reason, by = rule.reason, ClassifiedBy.AUTO
    interval = ClosedInterval(current.state, current.signalled, reason, current.since_ms, at_ms, by, short)
    return interval, auto


def apply_signal(
    current: Situation | None,
    at_ms: int,
    reason_states: ReasonStates,
    rule: MicroStopRule,
    *,
    signalled: MachineState | None = None,
    reason: str | None = None,
    reason_given: bool = False,
) -> Step:
    """Advance a work unit by one state and/or reason signal at `at_ms`.

    A signal older than the open interval's start counts at that start, so intervals never overlap.
    A change at the very start of the open interval replaces it (no zero-length intervals). A reason
    arriving for a stop that has none classifies the open interval instead of starting a new one.
    """
    if current is None:
        base = signalled if signalled is not None else S.IDLE
        why = reason if reason_given else None
        state = derive(base, why, reason_states)
        interval_reason = why if state is not S.RUNNING else None
        by = ClassifiedBy.MACHINE if interval_reason is not None else None
        return Step(Situation(state, interval_reason, at_ms, base, why, by), None, True, False)
    at_ms = max(at_ms, current.since_ms)
    base = signalled if signalled is not None else current.signalled
    why = reason if reason_given else current.signalled_reason
    state = derive(base, why, reason_states)
    interval_reason = why if state is not S.RUNNING else None
    if state is current.state and (interval_reason is None or interval_reason == current.reason):
        # Same stretch of time; a reason the machine withdraws does not undo a classification.
        if base is current.signalled and why == current.signalled_reason:
            return Step(current, None, False, False)
        return Step(replace(current, signalled=base, signalled_reason=why), None, False, False)
    by = ClassifiedBy.MACHINE if interval_reason is not None else None
    if state is current.state and current.reason is None:
        # The reason for a stop that had none: the same stop, now classified.
        classified = replace(current, reason=interval_reason, signalled=base, signalled_reason=why, classified_by=by)
        return Step(classified, None, True, False)
    opened = Situation(state, interval_reason, at_ms, base, why, by)
    if at_ms == current.since_ms:
        return Step(opened, None, True, False)
    closed, auto = _close(current, at_ms, rule)
    return Step(opened, closed, True, auto)


def reclassify(signalled: MachineState, reason: str, reason_states: ReasonStates) -> MachineState:
    """The state of an interval once a person gives its reason: the signalled state refined by it."""
    return derive(signalled, reason, reason_states)


def is_stop(state: MachineState) -> bool:
    return state is not S.RUNNING
