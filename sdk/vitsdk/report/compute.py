"""The report's figures, computed once from validated results and shared by every output format.

Definitions (each figure keeps the basis of the number it comes from: `measured`, `estimated`,
`unavailable`, or `recorded` for facts read from the bundle such as file size and accuracy):
- latency_ms: `latency.median_ms` with the basis `latency.status` gives (measured: median of the timed
  runs; simulated: cycles / clock of a hardware simulation; estimated: an analytical model); files
  without a status are estimated when nothing was timed (`latency.runs == 0`) or
  `runtime.extra.latency_method` says 'estimated', else measured.
- fps: 1000 / latency_ms, single-stream inferences per second.
- energy_mj: energy per inference above the idle baseline (`energy.energy_mj`), +- `uncertainty_mj`.
- inferences_per_j: 1000 / energy_mj (none when energy_mj <= 0: not above the idle baseline).
- power_w: average power while running, idle included (`energy.power_w`); net_power_w = power - idle.
- fps_per_w: fps / power_w, the throughput per watt drawn (idle included).
- size_bytes: the model file's size; accuracy: top-1 from the bundle manifest.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vitsdk.formats.results import PLATFORMS
from vitsdk.report.load import Loaded, Problem
from vitsdk.report.variant import Variant, variant_of


@dataclass(frozen=True)
class Figure:
    """One number with its unit and how it was obtained (`basis` and `method`)."""

    value: float | None
    unit: str
    basis: str           # measured | simulated | estimated | unavailable | recorded
    method: str
    uncertainty: float | None = None

    def to_dict(self) -> dict:
        return {"value": self.value, "unit": self.unit, "basis": self.basis, "method": self.method,
                "uncertainty": self.uncertainty}


@dataclass(frozen=True)
class Column:
    """A figure as every output shows it: key in `Entry.figures`, heading, unit and number format."""

    key: str
    heading: str
    unit: str
    digits: int
    scale: float = 1.0

    def number(self, figure: Figure | None) -> str:
        """The value in display units without the unit ('21.3 ± 1.1'), or '—'."""
        if figure is None or figure.value is None:
            return "—"
        value = figure.value * self.scale
        text = f"{value:.{self.digits}g}" if abs(value) < 10 ** self.digits else f"{value:.0f}"
        if figure.uncertainty is not None:
            text += f" ± {figure.uncertainty * self.scale:.2g}"
        return text

    def text(self, figure: Figure | None) -> str:
        number = self.number(figure)
        return number if number == "—" else f"{number} {self.unit}"


COLUMNS = (
    Column("latency_ms", "Latency (median)", "ms", 3),
    Column("fps", "Throughput", "inf/s", 3),
    Column("energy_mj", "Energy / inference", "mJ", 3),
    Column("inferences_per_j", "Inferences / J", "inf/J", 3),
    Column("fps_per_w", "FPS / W", "FPS/W", 3),
    Column("power_w", "Average power", "W", 3),
    Column("size_bytes", "Model size", "MB", 3, 1e-6),
    Column("accuracy", "Top-1 accuracy", "%", 3, 100.0),
)


@dataclass(frozen=True)
class Entry:
    """One results file: its identity, variant, figures and provenance."""

    index: int
    path: Path
    document: dict
    variant: Variant
    figures: dict[str, Figure]
    pareto: bool = False

    @property
    def id(self) -> str:
        return f"r{self.index}"

    @property
    def platform(self) -> str:
        return self.document["device"]["platform"]

    @property
    def device(self) -> str:
        return self.document["device"]["name"]

    @property
    def runtime(self) -> str:
        runtime = self.document["runtime"]
        delegate = f"/{runtime['delegate']}" if runtime.get("delegate") else ""
        return f"{runtime['name']}{delegate}"

    @property
    def status(self) -> str:
        return self.document["status"]

    @property
    def energy_basis(self) -> str:
        return self.document["energy"]["status"]

    @property
    def energy_note(self) -> str:
        """The method and source (or the reason it is unavailable), for labels."""
        energy = self.document["energy"]
        if energy["status"] == "unavailable":
            return f"unavailable: {energy.get('reason') or 'no reason given'}"
        source = f" ({energy['source']})" if energy.get("source") else ""
        return f"{energy['status']} · {energy['method']}{source}"

    @property
    def label(self) -> str:
        """Short name in charts: 'android · Pixel 8 · litert/xnnpack'."""
        return f"{self.platform} · {self.device} · {self.runtime}"

    def to_dict(self, href: str) -> dict:
        doc = self.document
        return {"id": self.id, "file": str(self.path), "href": href, "run_id": doc["run_id"],
                "created_utc": doc["created_utc"], "status": doc["status"], "error": doc["error"],
                "platform": self.platform, "device": provenance_device(doc), "runtime": doc["runtime"],
                "model": doc["model"], "variant": self.variant.to_dict(),
                "energy": {k: doc["energy"].get(k) for k in ("status", "method", "source", "reason",
                                                              "model_parameters")},
                "figures": {k: f.to_dict() for k, f in self.figures.items()},
                "pareto": self.pareto, "numerics": doc["numerics"],
                "tool": doc.get("tool"), "thermal": doc["thermal"]}


def provenance_device(doc: dict) -> dict:
    return {k: v for k, v in doc["device"].items() if v is not None}


def _positive(value: float | None) -> bool:
    return value is not None and value > 0


def latency_basis(doc: dict) -> tuple[str, str]:
    """(basis, method) of the latency: `latency.status` when the file has one; older files are estimated when
    nothing was timed (runs 0) or `runtime.extra.latency_method` / `latency_status` says 'estimated'."""
    latency = doc["latency"]
    extra = doc["runtime"].get("extra") or {}
    if latency is not None and latency.get("status"):
        runs = latency["runs"]
        return latency["status"], latency.get("method") or f"median of {runs} timed runs"
    said = "estimated" in (extra.get("latency_status"), extra.get("latency_method"))
    if said or (latency is not None and latency["runs"] == 0):
        method = extra.get("latency_method")
        return "estimated", "analytical model, no timed runs" if method in (None, "estimated") else str(method)
    runs = latency["runs"] if latency else 0
    return "measured", f"median of {runs} timed runs"


def figures_of(doc: dict, variant: Variant, manifest_size: int | None = None) -> dict[str, Figure]:
    """Every figure of one results document (see the module docstring for the definitions)."""
    latency = doc["latency"]
    energy = doc["energy"]
    lat_basis, lat_method = latency_basis(doc)
    median = latency["median_ms"] if latency else None
    figures: dict[str, Figure] = {
        "latency_ms": Figure(median, "ms", lat_basis if median is not None else "unavailable",
                             lat_method if median is not None else "nothing timed"),
        "fps": Figure(1000.0 / median if _positive(median) else None, "inf/s", lat_basis, "1000 / latency"),
    }
    e_basis = energy["status"]
    e_method = energy["method"] if e_basis != "unavailable" else "none"
    energy_mj = energy.get("energy_mj")
    power = energy.get("power_w")
    figures["energy_mj"] = Figure(energy_mj, "mJ", e_basis, e_method, energy.get("uncertainty_mj"))
    figures["inferences_per_j"] = Figure(1000.0 / energy_mj if _positive(energy_mj) else None, "inf/J", e_basis,
                                         "1000 / energy" if _positive(energy_mj) or energy_mj is None
                                         else "energy not above the idle baseline")
    figures["power_w"] = Figure(power, "W", e_basis if power is not None else "unavailable", e_method)
    figures["net_power_w"] = Figure(energy.get("net_power_w"), "W",
                                    e_basis if energy.get("net_power_w") is not None else "unavailable", e_method)
    fps = figures["fps"].value
    both = next((b for b in ("estimated", "simulated") if b in (lat_basis, e_basis)), "measured")
    figures["fps_per_w"] = Figure(fps / power if fps is not None and _positive(power) else None, "FPS/W",
                                  both if power is not None else "unavailable", "throughput / power")
    size = doc["model"].get("size_bytes")
    size = size if size is not None else manifest_size
    figures["size_bytes"] = Figure(size, "bytes", "recorded" if size is not None else "unavailable",
                                   "model file size" if size is not None else "not recorded")
    figures["accuracy"] = Figure(variant.accuracy, "fraction",
                                 "recorded" if variant.accuracy is not None else "unavailable",
                                 variant.accuracy_source or "not in the results or a bundle manifest")
    return figures


def pareto_front(points: Iterable[tuple[int, float, float]]) -> set[int]:
    """Indices on the accuracy-vs-energy front: no other point is at most as costly and more accurate.

    points: (index, energy_mj, accuracy). Ties in energy keep only the most accurate.
    """
    front: set[int] = set()
    best = float("-inf")
    for index, _energy, accuracy in sorted(points, key=lambda p: (p[1], -p[2])):
        if accuracy > best:
            front.add(index)
            best = accuracy
    return front


@dataclass
class Report:
    """The whole report: entries sorted by variant then platform, skipped files, figure definitions."""

    entries: list[Entry]
    problems: list[Problem]
    title: str = "vitsdk energy report"
    generated_utc: str = ""
    groups: dict[tuple[str, str], list[Entry]] = field(default_factory=dict)

    @property
    def platforms(self) -> list[str]:
        present = {e.platform for e in self.entries}
        return [p for p in PLATFORMS if p in present]


def build(loaded: Loaded, title: str = "vitsdk energy report", generated_utc: str = "") -> Report:
    """Computes every entry's figures, the Pareto front and the (variant, platform) groups."""
    raw = []
    for path, doc in loaded.results:
        manifest = loaded.manifest_for(doc)
        variant = variant_of(doc, manifest)
        entry = manifest.file_entry(doc["model"]["file"], doc["model"]["sha256"]) if manifest else None
        size = entry.get("size_bytes") if entry and isinstance(entry.get("size_bytes"), int) else None
        raw.append((path, doc, variant, figures_of(doc, variant, size)))
    raw.sort(key=lambda r: (r[2].sort_key(), PLATFORMS.index(r[1]["device"]["platform"]),
                            r[1]["device"]["name"], r[1]["runtime"]["name"], str(r[0])))
    points = [(i, figs["energy_mj"].value, figs["accuracy"].value) for i, (_, doc, _, figs) in enumerate(raw)
              if doc["status"] != "failed" and _positive(figs["energy_mj"].value)
              and figs["accuracy"].value is not None]
    front = pareto_front(points)
    entries = [Entry(i, path, doc, variant, figs, i in front) for i, (path, doc, variant, figs) in enumerate(raw)]
    groups: dict[tuple[str, str], list[Entry]] = {}
    for entry in entries:
        groups.setdefault((entry.variant.label, entry.platform), []).append(entry)
    return Report(entries, list(loaded.problems), title, generated_utc, groups)
