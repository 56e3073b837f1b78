"""How a simulated machine behaves: PackML states, cycles, stops, counters and process values over time.

Pure and deterministic: a `Machine` draws everything from its own random generators seeded from the run's
seed and its equipment id, and time only moves when the caller says so (`step(until_ms)`). The same seed,
origin and speed give the same signal changes however the caller slices time, so the Sparkplug and
OPC UA simulators, the tests and a replay all see one and the same machine.

The model runs in *simulated* time (an hour of mean time between failures is a simulated hour) and reports
in the caller's time: with `speed` 10 everything happens ten times faster, signal timestamps are the
caller's, and the ideal cycle time is reported divided by the speed, so that what the MES computes from the
timestamps (durations, performance) agrees with what the machine says.

Behaviour (STANDARDS §5): Execute while producing; Held for internal stops (micro-stops without a reason,
breakdowns with one); Suspended for external ones (starved, blocked); Stopped during planned breaks;
Completing/Complete at the end of a batch, then Resetting for the changeover to the next product;
Aborting/Aborted/Clearing after an emergency stop. Every state change follows the PackML transition table.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from openmes.acquisition.machine_state import PackMLState
from openmes.acquisition.schemas import TagRole
from openmes.acquisition.signals import SampleValue

COUNTER_MODULUS = 2**32  # machine counters are UInt32 and wrap to 0
MS_PER_S = 1000.0
MS_PER_HOUR = 3_600_000.0
NEVER_MS = 2**62  # further away than any simulation runs

S = PackMLState

# Where each acting state goes when it is complete (SC), and which command a waiting machine gets next.
_AFTER_ACTING = {
    S.STARTING: S.EXECUTE,
    S.RESETTING: S.IDLE,
    S.HOLDING: S.HELD,
    S.UNHOLDING: S.EXECUTE,
    S.SUSPENDING: S.SUSPENDED,
    S.UNSUSPENDING: S.EXECUTE,
    S.STOPPING: S.STOPPED,
    S.ABORTING: S.ABORTED,
    S.CLEARING: S.STOPPED,
    S.COMPLETING: S.COMPLETE,
}
_AFTER_WAITING = {
    S.IDLE: S.STARTING,  # Start
    S.HELD: S.UNHOLDING,  # Unhold
    S.SUSPENDED: S.UNSUSPENDING,  # Unsuspend
    S.COMPLETE: S.RESETTING,  # Reset
    S.STOPPED: S.RESETTING,  # Reset
    S.ABORTED: S.CLEARING,  # Clear
}


class SignalType(StrEnum):
    """The value type of a signal, named as the Sparkplug datatype it is published with."""

    INT32 = "Int32"
    UINT32 = "UInt32"
    DOUBLE = "Double"


STATE_SIGNAL = "PackML/State"
REASON_SIGNAL = "PackML/StopReason"
TOTAL_SIGNAL = "Counts/Total"
GOOD_SIGNAL = "Counts/Good"
SCRAP_SIGNAL = "Counts/Scrap"
IDEAL_CYCLE_SIGNAL = "Production/IdealCycleTime"


@dataclass(frozen=True, slots=True)
class StopReason:
    """A stop reason as the machine reports it: its own number, standing for a code of the reason tree."""

    number: int
    code: str
    description: str


NO_REASON = 0
# The machine-side numbers (PackML Admin.StopReason.ID style) and the reason tree codes (STANDARDS §7.2, as
# seeded by acquisition.service.DEFAULT_REASONS) they stand for; the tag mapping's `reasons` translates them.
CHANGEOVER = StopReason(10, "PLANNED.CHANGEOVER.PRODUCT", "Changeover to another product")
BREAK = StopReason(11, "PLANNED.BREAK", "Break / meal / shift meeting")
MECHANICAL = StopReason(20, "UNPLANNED.EQUIPMENT.MECHANICAL", "Mechanical failure")
ELECTRICAL = StopReason(21, "UNPLANNED.EQUIPMENT.ELECTRICAL", "Electrical failure")
TOOLING = StopReason(22, "UNPLANNED.EQUIPMENT.TOOLING", "Tool breakage or wear")
CONTROLS = StopReason(23, "UNPLANNED.EQUIPMENT.CONTROLS", "Controls / PLC, emergency stop")
STARVED = StopReason(30, "UNPLANNED.MATERIAL.STARVED", "Starved by the upstream machine")
BLOCKED = StopReason(40, "UNPLANNED.DOWNSTREAM.BLOCKED", "Blocked by the downstream machine")
NO_OPERATOR = StopReason(50, "UNPLANNED.PEOPLE.NO-OPERATOR", "No operator")
QUALITY_ADJUSTMENT = StopReason(60, "UNPLANNED.QUALITY.ADJUSTMENT", "Out-of-spec adjustment")
STOP_REASONS = (
    CHANGEOVER,
    BREAK,
    MECHANICAL,
    ELECTRICAL,
    TOOLING,
    CONTROLS,
    STARVED,
    BLOCKED,
    NO_OPERATOR,
    QUALITY_ADJUSTMENT,
)


@dataclass(frozen=True, slots=True)
class StopCause:
    """One kind of stop a machine suffers: its reason, how often relative to the others, how long (mean)."""

    reason: StopReason
    weight: float
    mean_s: float


@dataclass(frozen=True, slots=True)
class Product:
    """A material the machine makes, with its ideal (fastest) cycle time."""

    material_id: str
    ideal_cycle_s: float


@dataclass(frozen=True, slots=True)
class ProcessValueSpec:
    """A measured process value: tends to `running` while producing and to `stopped` otherwise.

    `stopped` None means the value is only measured while producing (a screw torque, a test pressure): it
    holds its last reading when the machine stands. Noise is Gaussian around a first-order lag (a quarter of
    it at standstill); now and then (excursions per hour, while producing) the value leaves its limits for
    a few seconds, so that limit alarms have something to fire on.
    """

    signal: str
    name: str
    unit: str
    running: float
    stopped: float | None
    noise: float
    low: float
    high: float
    time_constant_s: float = 60.0
    excursions_per_hour: float = 1.0
    excursion_s: tuple[float, float] = (5.0, 30.0)
    decimals: int = 1


DEFAULT_BREAKDOWNS = (
    StopCause(MECHANICAL, 3, 900),
    StopCause(ELECTRICAL, 2, 600),
    StopCause(TOOLING, 4, 300),
    StopCause(NO_OPERATOR, 1, 420),
    StopCause(QUALITY_ADJUSTMENT, 2, 240),
)
DEFAULT_EXTERNAL_STOPS = (StopCause(STARVED, 3, 120), StopCause(BLOCKED, 2, 90))


@dataclass(frozen=True, slots=True)
class MachineSpec:
    """Everything that makes one simulated work unit behave as it does; times in simulated seconds."""

    equipment_id: str
    products: tuple[Product, ...]
    process_values: tuple[ProcessValueSpec, ...] = ()
    cycle_jitter: float = 0.05
    scrap_rate: float = 0.02
    micro_stops_per_hour: float = 4.0
    micro_stop_s: tuple[float, float] = (2.0, 20.0)
    breakdowns_per_hour: float = 0.4
    breakdowns: tuple[StopCause, ...] = DEFAULT_BREAKDOWNS
    external_stops_per_hour: float = 0.6
    external_stops: tuple[StopCause, ...] = DEFAULT_EXTERNAL_STOPS
    emergency_stops_per_hour: float = 0.05
    emergency_stop_s: float = 180.0
    batch_size: tuple[int, int] = (40, 120)
    changeover_s: float = 900.0
    break_every_s: float = 4 * 3600.0
    break_s: float = 1800.0
    transition_s: tuple[float, float] = (0.5, 3.0)
    sample_period_s: float = 1.0
    initial_good: int = 0
    initial_scrap: int = 0


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """One signal of a simulated machine: name, type and what it means to the MES."""

    name: str
    type: SignalType
    role: TagRole
    process_value: ProcessValueSpec | None = None


@dataclass(frozen=True, slots=True)
class SignalChange:
    """A signal took a new value at a time (ms since the epoch, in the caller's time)."""

    name: str
    value: SampleValue
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class LineSpec:
    """A production line: its work units, simulated together (one Sparkplug edge node)."""

    line_id: str
    machines: tuple[MachineSpec, ...]


def signal_specs(spec: MachineSpec) -> tuple[SignalSpec, ...]:
    """Every signal the machine reports, in a fixed order."""
    fixed = (
        SignalSpec(STATE_SIGNAL, SignalType.INT32, TagRole.STATE),
        SignalSpec(REASON_SIGNAL, SignalType.INT32, TagRole.REASON),
        SignalSpec(TOTAL_SIGNAL, SignalType.UINT32, TagRole.TOTAL_COUNT),
        SignalSpec(GOOD_SIGNAL, SignalType.UINT32, TagRole.GOOD_COUNT),
        SignalSpec(SCRAP_SIGNAL, SignalType.UINT32, TagRole.SCRAP_COUNT),
        SignalSpec(IDEAL_CYCLE_SIGNAL, SignalType.DOUBLE, TagRole.IDEAL_CYCLE_TIME),
    )
    measured = tuple(SignalSpec(pv.signal, SignalType.DOUBLE, TagRole.PROCESS_VALUE, pv) for pv in spec.process_values)
    return fixed + measured


class _ProcessValue:
    """The running state of one process value: its underlying level and any excursion under way."""

    def __init__(self, spec: ProcessValueSpec, rng: random.Random, origin_ms: int) -> None:
        self.spec = spec
        self.level = spec.running if spec.stopped is None else spec.stopped
        self.reported = round(self.level, spec.decimals)
        self.offset = 0.0
        self.excursion_until_ms = 0
        self.next_excursion_ms = origin_ms + _exponential_ms(rng, spec.excursions_per_hour)


class Machine:
    """One simulated work unit; `step` moves it forward and tells what changed."""

    def __init__(self, spec: MachineSpec, seed: int, origin_ms: int, speed: float = 1.0) -> None:
        if not spec.products:
            raise ValueError(f"{spec.equipment_id}: a machine needs at least one product")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.spec = spec
        self.signals = signal_specs(spec)
        self._speed = speed
        self._origin_ms = origin_ms
        # A simulation wants reproducible pseudo-randomness, not secrets.
        self._rng = random.Random(f"{seed}/{spec.equipment_id}")  # noqa: S311
        # Process noise has its own generator, so adding a process value does not change the machine's stops.
        self._noise = random.Random(f"{seed}/{spec.equipment_id}/process")  # noqa: S311
        self._now_ms = origin_ms
        self._changes: list[SignalChange] = []
        self._state = S.STOPPED
        self._reason = NO_REASON
        self._good = spec.initial_good % COUNTER_MODULUS
        self._scrap = spec.initial_scrap % COUNTER_MODULUS
        self._total = (self._good + self._scrap) % COUNTER_MODULUS
        self._product = self._rng.randrange(len(spec.products))
        self._batch_left = self._rng.randint(*spec.batch_size)
        self._changeover_pending = False
        self._wait_ms = 0
        self._break_end_ms = origin_ms
        self._next_break_ms = origin_ms + _ms(spec.break_every_s)
        self._cycle_left_ms: int | None = None
        self._cycle_end_ms = 0
        self._disturbance_ms = 0
        self._next_event_ms = origin_ms + self._transition_ms()
        self._sample_period_ms = max(1, _ms(spec.sample_period_s * speed))
        self._next_sample_ms = origin_ms + self._sample_period_ms
        self._process = [_ProcessValue(pv, self._noise, origin_ms) for pv in spec.process_values]

    @property
    def state(self) -> PackMLState:
        return self._state

    def values(self) -> dict[str, SampleValue]:
        """The current value of every signal (what a birth certificate or a server's variables show)."""
        current: dict[str, SampleValue] = {
            STATE_SIGNAL: int(self._state),
            REASON_SIGNAL: self._reason,
            TOTAL_SIGNAL: self._total,
            GOOD_SIGNAL: self._good,
            SCRAP_SIGNAL: self._scrap,
            IDEAL_CYCLE_SIGNAL: self._ideal_cycle_reported(),
        }
        for pv in self._process:
            current[pv.spec.signal] = pv.reported
        return current

    def step(self, until_ms: int) -> list[SignalChange]:
        """Advance to `until_ms` (caller's time) and return the signal changes since the last step, in time order."""
        until = self._to_model(until_ms)
        while min(self._next_event_ms, self._next_sample_ms) <= until:
            if self._next_event_ms <= self._next_sample_ms:
                self._now_ms = self._next_event_ms
                self._advance()
            else:
                self._now_ms = self._next_sample_ms
                self._sample()
        changes, self._changes = self._changes, []
        return changes

    # --- time ---------------------------------------------------------------------------------------------

    def _to_model(self, caller_ms: int) -> int:
        return self._origin_ms + math.floor((caller_ms - self._origin_ms) * self._speed)

    def _to_caller(self, model_ms: int) -> int:
        return self._origin_ms + math.ceil((model_ms - self._origin_ms) / self._speed)

    def _transition_ms(self) -> int:
        return _ms(self._rng.uniform(*self.spec.transition_s))

    # --- states -------------------------------------------------------------------------------------------

    def _emit(self, name: str, value: SampleValue) -> None:
        self._changes.append(SignalChange(name, value, self._to_caller(self._now_ms)))

    def _set_reason(self, reason: int) -> None:
        if reason != self._reason:
            self._reason = reason
            self._emit(REASON_SIGNAL, reason)

    def _advance(self) -> None:
        if self._state is S.EXECUTE:
            self._execute_event()
        elif self._state in _AFTER_ACTING:
            self._enter(_AFTER_ACTING[self._state])
        else:
            self._enter(_AFTER_WAITING[self._state])

    def _enter(self, state: PackMLState) -> None:
        if state is S.EXECUTE:
            self._set_reason(NO_REASON)  # a reason always arrives before (or with) the state it explains
        self._state = state
        self._emit(STATE_SIGNAL, int(state))
        now = self._now_ms
        if state is S.EXECUTE:
            self._start_execute()
            return
        if state is S.RESETTING and self._changeover_pending:
            self._change_product()
            dwell = _lognormal_ms(self._rng, self.spec.changeover_s)
        elif state in (S.HELD, S.SUSPENDED, S.ABORTED):
            dwell = self._wait_ms
        elif state is S.STOPPED:
            dwell = max(self._transition_ms(), self._break_end_ms - now)
        else:
            dwell = self._transition_ms()
        self._next_event_ms = now + dwell

    def _start_execute(self) -> None:
        """Resume (or begin) a cycle, and draw when the next disturbance will interrupt producing."""
        spec = self.spec
        if self._cycle_left_ms is None:
            self._cycle_left_ms = self._cycle_ms()
        self._cycle_end_ms = self._now_ms + self._cycle_left_ms
        rate = (
            spec.micro_stops_per_hour
            + spec.breakdowns_per_hour
            + spec.external_stops_per_hour
            + spec.emergency_stops_per_hour
        )
        self._disturbance_ms = self._now_ms + _exponential_ms(self._rng, rate)
        self._next_event_ms = min(self._cycle_end_ms, self._disturbance_ms)

    def _cycle_ms(self) -> int:
        ideal = self.spec.products[self._product].ideal_cycle_s
        return _ms(ideal * (1 + abs(self._rng.gauss(0, self.spec.cycle_jitter))))

    def _execute_event(self) -> None:
        now = self._now_ms
        if now >= self._cycle_end_ms:
            self._complete_cycle()
            if now >= self._next_break_ms:
                self._break_end_ms = now + _ms(self.spec.break_s)
                self._next_break_ms = max(self._next_break_ms + _ms(self.spec.break_every_s), self._break_end_ms)
                self._set_reason(BREAK.number)
                self._enter(S.STOPPING)
            elif self._batch_left <= 0:
                self._changeover_pending = True
                self._set_reason(CHANGEOVER.number)
                self._enter(S.COMPLETING)
            else:
                self._cycle_left_ms = self._cycle_ms()
                self._cycle_end_ms = now + self._cycle_left_ms
                self._next_event_ms = min(self._cycle_end_ms, self._disturbance_ms)
            return
        self._cycle_left_ms = self._cycle_end_ms - now
        self._disturb()

    def _complete_cycle(self) -> None:
        self._cycle_left_ms = None
        self._batch_left -= 1
        self._total = (self._total + 1) % COUNTER_MODULUS
        self._emit(TOTAL_SIGNAL, self._total)
        if self._rng.random() < self.spec.scrap_rate:
            self._scrap = (self._scrap + 1) % COUNTER_MODULUS
            self._emit(SCRAP_SIGNAL, self._scrap)
        else:
            self._good = (self._good + 1) % COUNTER_MODULUS
            self._emit(GOOD_SIGNAL, self._good)

    def _disturb(self) -> None:
        """Interrupt producing: a micro-stop, a breakdown, an external stop or an emergency stop."""
        spec = self.spec
        kinds = ("micro", "breakdown", "external", "emergency")
        weights = (
            spec.micro_stops_per_hour,
            spec.breakdowns_per_hour,
            spec.external_stops_per_hour,
            spec.emergency_stops_per_hour,
        )
        kind = self._rng.choices(kinds, weights)[0]
        if kind == "micro":
            self._wait_ms = _ms(self._rng.uniform(*spec.micro_stop_s))
            self._enter(S.HOLDING)
        elif kind == "breakdown":
            cause = self._rng.choices(spec.breakdowns, [c.weight for c in spec.breakdowns])[0]
            self._wait_ms = _lognormal_ms(self._rng, cause.mean_s)
            self._set_reason(cause.reason.number)
            self._enter(S.HOLDING)
        elif kind == "external":
            cause = self._rng.choices(spec.external_stops, [c.weight for c in spec.external_stops])[0]
            self._wait_ms = _lognormal_ms(self._rng, cause.mean_s)
            self._set_reason(cause.reason.number)
            self._enter(S.SUSPENDING)
        else:
            self._cycle_left_ms = None  # the part in the machine is lost; the next cycle starts afresh
            self._wait_ms = _lognormal_ms(self._rng, spec.emergency_stop_s)
            self._set_reason(CONTROLS.number)
            self._enter(S.ABORTING)

    def _change_product(self) -> None:
        self._changeover_pending = False
        count = len(self.spec.products)
        if count > 1:
            self._product = (self._product + self._rng.randrange(1, count)) % count
        self._batch_left = self._rng.randint(*self.spec.batch_size)
        self._emit(IDEAL_CYCLE_SIGNAL, self._ideal_cycle_reported())

    def _ideal_cycle_reported(self) -> float:
        return self.spec.products[self._product].ideal_cycle_s / self._speed

    # --- process values -----------------------------------------------------------------------------------

    def _sample(self) -> None:
        now = self._now_ms
        producing = self._state is S.EXECUTE
        for pv in self._process:
            spec = pv.spec
            if not producing and spec.stopped is None:
                continue
            target = spec.running if producing or spec.stopped is None else spec.stopped
            pv.level += (target - pv.level) * (1 - math.exp(-self._sample_period_ms / _ms(spec.time_constant_s)))
            if now >= pv.next_excursion_ms:
                pv.next_excursion_ms = now + _exponential_ms(self._noise, spec.excursions_per_hour)
                if producing:
                    pv.excursion_until_ms = now + _ms(self._noise.uniform(*spec.excursion_s))
                    pv.offset = self._excursion_offset(spec)
            excursion = pv.offset if producing and now < pv.excursion_until_ms else 0.0
            noise = spec.noise if producing else spec.noise / 4  # a machine at rest is quieter
            value = round(pv.level + excursion + self._noise.gauss(0, noise), spec.decimals)
            if value != pv.reported:
                pv.reported = value
                self._emit(spec.signal, value)
        self._next_sample_ms = now + self._sample_period_ms

    def _excursion_offset(self, spec: ProcessValueSpec) -> float:
        """How far to push the value so that it lands beyond one of its limits (mostly the high one)."""
        margin = (spec.high - spec.low) * self._noise.uniform(0.02, 0.1)
        if self._noise.random() < 0.8:
            return spec.high - spec.running + margin
        return spec.low - spec.running - margin


def _ms(seconds: float) -> int:
    return max(1, round(seconds * MS_PER_S))


def _exponential_ms(rng: random.Random, per_hour: float) -> int:
    """Time to the next event of a Poisson process with the given rate; never, in effect, for rate 0."""
    if per_hour <= 0:
        return NEVER_MS
    return max(1, round(min(rng.expovariate(per_hour / MS_PER_HOUR), NEVER_MS)))


def _lognormal_ms(rng: random.Random, mean_s: float, variation: float = 0.5) -> int:
    """A duration with the given mean and a long tail, as repair times have."""
    sigma = math.sqrt(math.log(1 + variation**2))
    return _ms(rng.lognormvariate(math.log(mean_s) - sigma**2 / 2, sigma))


def _spindle(running: float, high: float = 95.0) -> ProcessValueSpec:
    return ProcessValueSpec("Process/SpindleLoad", "spindle_load", "P1", running, 3.0, 3.0, 0.0, high, 5.0)


def _temperature(signal: str, name: str, running: float, stopped: float, high: float) -> ProcessValueSpec:
    return ProcessValueSpec(signal, name, "CEL", running, stopped, 0.3, stopped - 5.0, high, 300.0, 0.5)


# The tag mapping of the demo plant's simulated signals (docs/acquisition.md, Simulator).
DEMO_TAG_MAPPING = Path(__file__).with_name("demo_tags.yaml")

# The demo plant (resources/demo.py, docs/resources.md): machining line 1 and assembly line 2, with the
# materials each work unit makes and what it measures. Changeovers take longer on the machining centres.
DEMO_PLANT = (
    LineSpec(
        "L1-MACH",
        (
            MachineSpec(
                "L1-SAW",
                (Product("STEEL-C45-D30", 35.0), Product("AL-BLOCK-6082", 50.0)),
                (ProcessValueSpec("Process/BladeLoad", "blade_load", "P1", 55.0, 0.0, 2.5, 0.0, 85.0, 3.0),),
                changeover_s=300.0,
            ),
            MachineSpec(
                "L1-CNC1",
                (Product("HSG-GP100", 240.0), Product("HSG-GP200", 300.0), Product("VB-BODY", 420.0)),
                (
                    _spindle(62.0),
                    _temperature("Process/SpindleTemperature", "spindle_temperature", 38.0, 22.0, 45.0),
                    ProcessValueSpec("Process/CoolantPressure", "coolant_pressure", "BAR", 40.0, None, 0.8, 30.0, 50.0),
                ),
                batch_size=(20, 60),
                changeover_s=1800.0,
            ),
            MachineSpec(
                "L1-CNC2",
                (Product("GEAR-GP100", 150.0), Product("GEAR-GP200", 180.0)),
                (
                    _spindle(55.0),
                    _temperature("Process/SpindleTemperature", "spindle_temperature", 36.0, 22.0, 45.0),
                ),
                batch_size=(30, 90),
                changeover_s=1200.0,
            ),
            MachineSpec(
                "L1-LATHE1",
                (Product("SHAFT-GP", 90.0),),
                (_spindle(48.0, 90.0),),
                scrap_rate=0.03,
            ),
            MachineSpec(
                "L1-DEBURR",
                (Product("HSG-GP100", 60.0), Product("HSG-GP200", 60.0), Product("VB-BODY", 75.0)),
                (_temperature("Process/WashTemperature", "wash_temperature", 60.0, 25.0, 70.0),),
                scrap_rate=0.005,
                changeover_s=240.0,
            ),
        ),
    ),
    LineSpec(
        "L2-ASSY",
        (
            MachineSpec(
                "L2-ASM1",
                (Product("GP-100", 120.0), Product("GP-200", 150.0)),
                (ProcessValueSpec("Process/ScrewTorque", "screw_torque", "NU", 24.0, None, 0.4, 22.0, 26.0, 1.0),),
                scrap_rate=0.01,
                changeover_s=600.0,
            ),
            MachineSpec(
                "L2-ASM2",
                (Product("GP-100", 110.0), Product("GP-200", 140.0), Product("VB-10", 90.0)),
                (ProcessValueSpec("Process/ScrewTorque", "screw_torque", "NU", 24.0, None, 0.4, 22.0, 26.0, 1.0),),
                scrap_rate=0.01,
                changeover_s=600.0,
            ),
            MachineSpec(
                "L2-TEST",
                (Product("GP-100", 180.0), Product("GP-200", 200.0)),
                (
                    ProcessValueSpec(
                        "Process/TestPressure", "test_pressure", "BAR", 250.0, None, 2.0, 240.0, 265.0, 5.0
                    ),
                    _temperature("Process/OilTemperature", "oil_temperature", 45.0, 25.0, 55.0),
                ),
                scrap_rate=0.015,
                changeover_s=300.0,
            ),
            MachineSpec(
                "L2-PACK",
                (Product("GP-100", 40.0), Product("GP-200", 40.0), Product("VB-10", 30.0)),
                (
                    ProcessValueSpec(
                        "Process/PackageWeight", "package_weight", "KGM", 4.2, None, 0.05, 3.8, 4.8, 1.0, 2
                    ),
                ),
                scrap_rate=0.002,
                changeover_s=180.0,
            ),
        ),
    ),
)
