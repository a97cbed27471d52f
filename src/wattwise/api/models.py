"""Pydantic models of the API's bodies and answers. Units are in the field names."""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from wattwise.store.status import PUBLIC_JOB_STATUSES, JobStatus

T = TypeVar("T")

#: The job states the API speaks of: the store's :class:`JobStatus` by its public name.
JOB_STATUSES: tuple[str, ...] = PUBLIC_JOB_STATUSES


def _public_status(name: str) -> str:
    JobStatus.from_public(name)  # ValueError (a 422 / validation error) if unknown
    return name


PublicJobStatus = Annotated[
    str, AfterValidator(_public_status), Field(json_schema_extra={"enum": list(JOB_STATUSES)})
]


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items`` plus the ``total`` matching the filter."""

    items: list[T]
    total: int
    limit: int
    offset: int


class DeviceOut(BaseModel):
    name: str
    kind: str
    source: str
    estimated: bool
    in_total: bool
    energy_j: float


class WindowOut(BaseModel):
    name: str
    start_s: float
    end_s: float
    energy_j: float
    estimated: bool


class RunOut(BaseModel):
    """One measured run. Units: J, W, gCO₂e, s (times UTC epoch seconds)."""

    id: int
    name: str
    kind: str
    command: list[str] | None
    status: str
    exit_code: int | None
    host: str
    started_s: float
    ended_s: float | None
    duration_s: float | None
    energy_j: float | None
    avg_power_w: float | None
    peak_power_w: float | None
    co2e_g: float | None
    intensity_source: str | None
    estimated: bool
    meta: dict[str, Any] = Field(default_factory=dict)


class RunDetail(RunOut):
    devices: list[DeviceOut]
    windows: list[WindowOut]


class PowerPoint(BaseModel):
    t_s: float
    power_w: float


class JobSubmit(BaseModel):
    """A job to run: a command (argv list), how many CPUs, and how long it may wait."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w .:+/-]+$")
    command: list[str] = Field(min_length=1, max_length=64)
    cpus: float = Field(default=1.0, gt=0, le=1024)
    deadline_h: float = Field(
        default=12.0, ge=0, le=24 * 14, description="slack before it must finish. Units: h"
    )
    kind: Literal["training", "inference", "optimize", "other"] = "other"


class PredictedOut(BaseModel):
    """What the head planned the job with (``wattwise.predict.runtime``). Units: s, W.
    ``source``: ``history`` (past runs), ``cold-start`` (nothing known: an assumption)
    or ``declared`` (the spec's runtime); ``runtime_upper_s`` bounds the runtime with
    probability ``coverage`` and sets the latest start (deadline − upper)."""

    runtime_s: float
    runtime_upper_s: float
    power_w: float
    source: Literal["history", "cold-start", "declared"]
    n: int = 0
    coverage: float = 0.9


class ActualOut(BaseModel):
    """How the job really went, measured, beside the prediction. Units: s, W, %.
    ``power_w`` is ``None`` where the job was not metered."""

    runtime_s: float
    power_w: float | None = None
    runtime_abs_error_s: float | None = None
    runtime_error_pct: float | None = None
    within_upper: bool | None = None


class JobOut(BaseModel):
    """A job and what it cost. Times are UTC epoch seconds of the (possibly replayed) grid
    clock; energy in J, carbon in gCO₂e; ``baseline_co2e_g`` is what it would have emitted
    had it started on arrival (the carbon-agnostic baseline)."""

    id: str
    name: str
    kind: str
    command: list[str]
    status: PublicJobStatus
    cpus: float
    node: str | None = None
    submitted_s: float
    deadline_s: float | None = None
    planned_start_s: float | None = None
    planned_end_s: float | None = None
    started_s: float | None = None
    ended_s: float | None = None
    duration_s: float | None = None
    energy_j: float | None = None
    co2e_g: float | None = None
    baseline_co2e_g: float | None = None
    estimated: bool = True
    run_id: int | None = None
    detail: str = ""
    predicted: PredictedOut | None = None
    actual: ActualOut | None = None


class DeviceLive(BaseModel):
    name: str
    kind: str
    source: str
    estimated: bool
    in_total: bool
    power_w: float | None
    energy_j: float


class NodeOut(BaseModel):
    name: str
    alive: bool
    cpus: float | None = None
    gpus: float | None = None
    power_w: float | None = None
    devices: list[DeviceLive]


class PowerSeries(BaseModel):
    """Recent power samples per device. Times: wall-clock UTC epoch seconds."""

    node: str
    device: str
    points: list[PowerPoint]


class LivePower(BaseModel):
    now_s: float
    series: list[PowerSeries]


class GridWindow(BaseModel):
    job_id: str
    name: str
    status: str
    start_s: float
    end_s: float


class GridOut(BaseModel):
    """Carbon intensity around now, its forecast and the windows chosen. Units: gCO₂e/kWh."""

    available: bool
    source: str
    unit: str = "gCO2e/kWh"
    now_s: float | None = None
    speed: float = 1.0
    intensity_now: float | None = None
    times_s: list[float] = Field(default_factory=list)
    values: list[float] = Field(default_factory=list)
    forecast_times_s: list[float] = Field(default_factory=list)
    forecast_values: list[float] = Field(default_factory=list)
    windows: list[GridWindow] = Field(default_factory=list)


class SummaryOut(BaseModel):
    """Totals over the jobs so far. Units: J, gCO₂e."""

    jobs: dict[str, int]
    energy_j: float
    co2e_g: float
    baseline_co2e_g: float
    saved_co2e_g: float
    saved_percent: float | None
    runs_total: int
    estimated: bool


class ReportRef(BaseModel):
    id: str
    kind: str
    modified_s: float
    title: str


class ErrorOut(BaseModel):
    detail: str
