"""The one interface every energy source implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

from wattwise.meter.types import Device


class EnergySource(ABC):
    """A set of devices whose cumulative energy can be read.

    ``read_j()`` returns, per device name, the energy used since the source was
    created. Units: J. It must be monotonic: sources whose hardware counter wraps
    (RAPL) or that only give power (some GPUs) correct for that here, which is why
    the meter calls ``read_j()`` on a background interval shorter than the shortest
    wrap period (``min_poll_interval_s``).
    """

    #: short label shown with every figure (``rapl``, ``nvml``, ``amdsmi``, ``estimate``)
    source: str = ""

    @abstractmethod
    def devices(self) -> list[Device]:
        """Devices this source reports, in a stable order."""

    @abstractmethod
    def read_j(self) -> dict[str, float]:
        """Cumulative energy per device since creation. Units: J."""

    def max_poll_interval_s(self) -> float | None:
        """Longest safe time between reads (wrap period), or ``None`` if unbounded. Units: s."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release handles (file descriptors, library sessions)."""
