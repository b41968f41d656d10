"""Host energy from the Linux powercap (RAPL) counters, and host thermal state.

Layout: `/sys/class/powercap/intel-rapl:N/{name, energy_uj, max_energy_range_uj}` per CPU package
(AMD uses the same driver and names); subzones `intel-rapl:N:M` (core, uncore, dram) are parts of the
package and are not added. Since Linux 5.10 `energy_uj` is readable by root only (CVE-2020-8694): the
reader then says so, and the runner reports energy `unavailable` with that reason.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

POWERCAP = Path("/sys/class/powercap")
THERMAL = Path("/sys/class/thermal")
_TOP_ZONE = re.compile(r"^(intel-rapl|amd-rapl):\d+$")


@dataclass(frozen=True)
class RaplZone:
    path: Path
    name: str
    max_range_uj: float

    def read_uj(self) -> float:
        return float((self.path / "energy_uj").read_text())


class RaplUnavailable(Exception):
    """Why RAPL cannot be used here (the text goes into the results' energy.reason)."""


def find_zones(root: Path = POWERCAP) -> list[RaplZone]:
    """Readable package-level zones (package-N, or psys when it is the only one); raises RaplUnavailable."""
    if not root.is_dir():
        raise RaplUnavailable(f"no {root} (no powercap/RAPL support on this machine or in this container)")
    tops = sorted(p for p in root.iterdir() if _TOP_ZONE.match(p.name))
    if not tops:
        raise RaplUnavailable(f"no RAPL zones under {root}")
    zones, denied = [], []
    for path in tops:
        try:
            name = (path / "name").read_text().strip()
            max_range = float((path / "max_energy_range_uj").read_text())
            float((path / "energy_uj").read_text())
        except PermissionError:
            denied.append(path.name)
            continue
        except (OSError, ValueError) as exc:
            raise RaplUnavailable(f"unreadable RAPL zone {path}: {exc}") from exc
        zones.append(RaplZone(path, name, max_range))
    if not zones:
        raise RaplUnavailable(f"RAPL energy_uj is readable by root only ({', '.join(denied)}); "
                              "run as root or grant read access to measure energy")
    packages = [z for z in zones if z.name.startswith("package")]
    return packages or zones


class RaplSampler:
    """Reads every zone's counter on a background thread, every `period_s` seconds.

    `window(t0, t1)` returns the samples in [t0, t1] as (times, summed uJ with wraps undone) for
    `PowerTrace.from_counter`; the thread is idle between reads, so it costs little of the measured CPU.
    """

    def __init__(self, zones: list[RaplZone], period_s: float, clock=time.perf_counter) -> None:
        self.zones = zones
        self.period_s = period_s
        self.clock = clock
        self.times: list[float] = []
        self.totals: list[float] = []
        self._last = [z.read_uj() for z in zones]
        self._total = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    @property
    def source(self) -> str:
        return ", ".join(f"{z.path.name} ({z.name})" for z in self.zones)

    def sample(self) -> float:
        """One reading of every zone (also called by the runner to mark a window's edges); returns its time."""
        with self._lock:
            now = self.clock()
            for i, zone in enumerate(self.zones):
                value = zone.read_uj()
                delta = value - self._last[i]
                if delta < 0:
                    delta += zone.max_range_uj
                self._total += delta
                self._last[i] = value
            self.times.append(now)
            self.totals.append(self._total)
        return now

    mark = sample

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            self.sample()

    def __enter__(self) -> "RaplSampler":
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def window(self, t0: float, t1: float) -> tuple[list[float], list[float]]:
        with self._lock:
            pairs = [(t, e) for t, e in zip(self.times, self.totals) if t0 <= t <= t1]
        return [t for t, _ in pairs], [e for _, e in pairs]


def thermal_state(root: Path = THERMAL) -> dict:
    """The hottest thermal zone in degrees C (host), or nulls where none is readable."""
    temps = []
    if root.is_dir():
        for zone in root.glob("thermal_zone*"):
            try:
                temps.append(float((zone / "temp").read_text()) / 1000.0)
            except (OSError, ValueError):
                continue
    return {"state": None, "temperature_c": max(temps) if temps else None}
