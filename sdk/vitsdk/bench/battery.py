"""Unit and sign detection for Android `BatteryManager` readings.

`BATTERY_PROPERTY_CURRENT_NOW` is documented in microamperes, negative while discharging; some vendors
report milliamperes, others positive while discharging. `EXTRA_VOLTAGE` is documented in millivolts;
some report volts or microvolts. A phone running a benchmark with its screen on draws 50 mA - 5 A, so
magnitudes tell the unit apart; an unplugged phone is discharging, so the dominant sign tells the
convention. This module is the reference the Kotlin port (`android_app/benchcore`) is tested against,
through `schemas/vectors/battery_units.json`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from vitsdk.bench.stats import percentile

MICROAMP_THRESHOLD = 5000.0   # |median| at or above: microamps (5 mA); below: milliamps (5 A)
CURRENT_UNIT_SCALE = {"uA": 1e-6, "mA": 1e-3}
VOLTAGE_UNIT_SCALE = {"V": 1.0, "mV": 1e-3, "uV": 1e-6}


@dataclass(frozen=True)
class BatteryConvention:
    current_unit: str        # "uA" | "mA" | "unknown"
    discharge_sign: int      # -1 | 1 | 0 (unknown)
    voltage_unit: str        # "V" | "mV" | "uV" | "unknown"
    note: str | None

    @property
    def usable(self) -> bool:
        return self.current_unit != "unknown" and self.discharge_sign != 0 and self.voltage_unit != "unknown"

    def to_dict(self, plugged: bool) -> dict:
        return {"current_unit": self.current_unit, "discharge_sign": self.discharge_sign,
                "voltage_unit": self.voltage_unit, "plugged": plugged, "note": self.note}


def voltage_unit(raw: float) -> str:
    """A Li-ion cell sits at 3-4.5 V: read the unit off the magnitude."""
    v = abs(raw)
    if 2.5 <= v <= 5.5:
        return "V"
    if 2500 <= v <= 5500:
        return "mV"
    if 2.5e6 <= v <= 5.5e6:
        return "uV"
    return "unknown"


def detect(current_raw: Sequence[float], voltage_raw: Sequence[float], plugged: bool) -> BatteryConvention:
    """The unit and discharge sign of CURRENT_NOW and the unit of EXTRA_VOLTAGE from samples taken while running."""
    notes = []
    nonzero = sorted(abs(c) for c in current_raw if c != 0)
    if not nonzero:
        unit, notes = "unknown", ["CURRENT_NOW reads 0 (not supported by this device)"]
    else:
        unit = "uA" if percentile(nonzero, 50) >= MICROAMP_THRESHOLD else "mA"
    positives = sum(1 for c in current_raw if c > 0)
    negatives = sum(1 for c in current_raw if c < 0)
    if plugged:
        sign = 0
        notes.append("plugged in: the discharge sign cannot be told from charging")
    elif positives == negatives:
        sign = 0
        if unit != "unknown":
            notes.append("as many positive as negative current samples")
    else:
        sign = 1 if positives > negatives else -1
        if sign == 1:
            notes.append("positive while discharging (not the documented convention)")
    volts = sorted(voltage_raw)
    vunit = voltage_unit(percentile(volts, 50)) if volts else "unknown"
    if vunit == "unknown":
        notes.append("voltage out of the range of a Li-ion cell in V, mV and uV")
    return BatteryConvention(unit, sign, vunit, "; ".join(notes) or None)


def power_w(current_raw: float, voltage_raw: float, convention: BatteryConvention) -> float:
    """Battery power in watts, positive while discharging."""
    if not convention.usable:
        raise ValueError("battery convention unknown; cannot convert to power")
    amps = current_raw * CURRENT_UNIT_SCALE[convention.current_unit] * convention.discharge_sign
    return amps * voltage_raw * VOLTAGE_UNIT_SCALE[convention.voltage_unit]
