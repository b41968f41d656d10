// Energy per inference from the Battery Status API: the only energy signal a web page can read, and only
// in Chromium-based browsers (Safari and Firefox do not expose it). Like the iOS app's battery-level
// figure (ios_app/BenchCore BatteryEnergy.swift): the level moves in 1% steps, so the figure needs an
// unplugged phone, a long run, an idle window measured the same way and the battery capacity, which no
// browser exposes (the user passes it). Each level difference is off by up to one step (standard error
// step / sqrt(6)); the capacity's relative uncertainty is added in quadrature. Short of any of these the
// answer is `unavailable` with the reason, never a number.

export const LEVEL_STEP = 0.01;   // Chromium reports the level rounded to 1%
export const MIN_STEPS = 3;

function unavailable(reason) {
  return {status: "unavailable", method: "none", reason};
}

/** Reads {level, charging, t_s} now, or null without the API. */
export async function readBattery(nav, clock) {
  if (!nav || typeof nav.getBattery !== "function") return null;
  const b = await nav.getBattery();
  return {level: b.level, charging: b.charging, t_s: clock()};
}

/**
 * active / idle: {before, after} battery readings around the timed runs and the idle baseline (null when
 * not read). capacityWh: the battery capacity the user passed (null: unknown).
 */
export function batteryEnergy({api, active, idle, inferences, capacityWh, capacityRelUncertainty = 0.1,
                               minSteps = MIN_STEPS}) {
  if (!api) return unavailable("this browser has no Battery Status API (Safari and Firefox do not expose one)");
  if (!active) return unavailable("the battery level was not read");
  const observed = `battery level ${Math.round(active.before.level * 100)}% -> ` +
    `${Math.round(active.after.level * 100)}% over ${(active.after.t_s - active.before.t_s).toFixed(0)} s ` +
    `of ${inferences} inferences (steps of 1%)`;
  const plugged = (w) => w && (w.before.charging || w.after.charging);
  if (plugged(active) || plugged(idle)) {
    return unavailable(`plugged in or no battery (the browser reports charging): the battery level does not ` +
                       `measure the draw on external power; ${observed}`);
  }
  if (!(capacityWh > 0)) {
    return unavailable(`a web page cannot read the battery capacity; pass --battery-wh for a coarse ` +
                       `battery-level figure; ${observed}`);
  }
  const activeS = active.after.t_s - active.before.t_s;
  if (!(inferences > 0) || !(activeS > 0)) return unavailable(`no inferences were timed; ${observed}`);
  const activeDrop = active.before.level - active.after.level;
  const steps = Math.round(activeDrop / LEVEL_STEP);
  if (steps < minSteps) {
    return unavailable(`too coarse: the battery level fell ${steps} step(s) of 1%, fewer than ${minSteps}; ` +
                       `run longer (--min-seconds of 30+ minutes); ${observed}`);
  }
  const idleS = idle ? idle.after.t_s - idle.before.t_s : 0;
  if (!(idleS > 0)) {
    return unavailable(`no idle baseline measured the same way (set --idle-seconds to a similar length as ` +
                       `the run); whole-phone drain only; ${observed}`);
  }
  const joulesPerLevel = capacityWh * 3600;
  const quantSe = LEVEL_STEP / Math.sqrt(6) * joulesPerLevel;
  const power = activeDrop * joulesPerLevel / activeS;
  const idlePower = (idle.before.level - idle.after.level) * joulesPerLevel / idleS;
  const scale = activeS / inferences * 1000;
  const energy = (power - idlePower) * scale;
  const se = Math.hypot(quantSe / activeS, quantSe / idleS) * scale;
  const uncertainty = Math.hypot(se, Math.abs(energy) * capacityRelUncertainty);
  const resolved = Math.abs(energy) >= 2 * uncertainty ? "" : "not resolved (within two standard errors of zero: run longer); ";
  return {
    status: "measured", method: "battery_level_delta", source: "navigator.getBattery() level",
    reason: `coarse: ${resolved}whole-phone battery level in 1% steps, idle subtracted, capacity ${capacityWh} Wh ` +
            `passed by the user (wear unknown, +-${Math.round(capacityRelUncertainty * 100)}%); ${observed}`,
    energy_mj: energy, uncertainty_mj: uncertainty, power_w: power, idle_power_w: idlePower,
    net_power_w: power - idlePower,
    model_parameters: {battery_capacity_wh: capacityWh, capacity_rel_uncertainty: capacityRelUncertainty,
                       level_step: LEVEL_STEP, active_level_before: active.before.level,
                       active_level_after: active.after.level, active_duration_s: activeS,
                       idle_level_before: idle.before.level, idle_level_after: idle.after.level,
                       idle_duration_s: idleS, inferences},
  };
}
