// The benchmark page: runs every .tflite model of the bundle with LiteRT.js on each accelerator the
// browser has, with the shared protocol, and posts one results document (schemas/results.schema.json,
// platform `browser`) per model and accelerator, plus the outputs on the bundle's reference inputs (the
// host judges them against the reference outputs with the same check as every other device).
import {batteryEnergy, readBattery} from "./battery.mjs";
import {parseNpy} from "./npy.mjs";
import {measure} from "./protocol.mjs";
import {latencyStats} from "./stats.mjs";

const clock = () => performance.now() / 1e3;
// Raw samples go back only up to this many (about 2 MB of JSON, half the host's post limit); the
// statistics always cover every timed run.
const MAX_POSTED_SAMPLES = 100000;
const sleep = (s) => new Promise((resolve) => setTimeout(resolve, s * 1e3));
const logBox = document.getElementById("log");

function show(message) {
  logBox.textContent += message + "\n";
}

async function post(kind, body) {
  const response = await fetch(kind, {method: "POST", headers: {"Content-Type": "application/json"},
                                      body: JSON.stringify(body)});
  const text = await response.text();
  if (!response.ok) throw new Error(`the host refused the ${kind}: ${text}`);
  return text;
}

async function progress(message) {
  show(message);
  await post("event", {kind: "log", message}).catch(() => {});
}

function utcNow() {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

function timerResolutionMs() {
  let best = Infinity;
  for (let i = 0; i < 20; i++) {
    const a = performance.now();
    let b = performance.now();
    while (b === a) b = performance.now();
    best = Math.min(best, b - a);
  }
  return best;
}

async function describeDevice() {
  const ua = navigator.userAgent;
  let hints = {};
  if (navigator.userAgentData && navigator.userAgentData.getHighEntropyValues) {
    hints = await navigator.userAgentData.getHighEntropyValues(["platformVersion", "model", "fullVersionList"])
      .catch(() => ({}));
  }
  let os = "unknown";
  let osVersion = hints.platformVersion || "unknown";
  let m;
  if ((m = /Android ([\d.]+)/.exec(ua))) [os, osVersion] = ["android", m[1]];
  else if ((m = /(?:iPhone|iPad|iPod).* OS (\d+[_\d]*)/.exec(ua))) [os, osVersion] = ["ios", m[1].replaceAll("_", ".")];
  else if (/Mac OS X/.test(ua)) os = "macos";
  else if (/Windows/.test(ua)) os = "windows";
  else if (/CrOS/.test(ua)) os = "chromeos";
  else if (/Linux/.test(ua)) os = "linux";
  const brands = (hints.fullVersionList || []).filter((b) => !/Not.?A.?Brand/i.test(b.brand));
  const browser = brands.length ? `${brands[brands.length - 1].brand} ${brands[brands.length - 1].version}`
    : (/(Firefox|Edg|Chrome|Version)\/([\d.]+)/.exec(ua) || ["", "browser", ""]).slice(1).join(" ");
  return {platform: "browser", name: `${browser} on ${os}`.trim(), manufacturer: null,
          model: hints.model || null, soc: null, os, os_version: osVersion, api_level: null,
          cpu_cores: navigator.hardwareConcurrency || null, memory_bytes: null, serial: null, user_agent: ua};
}

async function accelerators(wanted, litert) {
  const status = {wasm: null};
  status.webgpu = !litert.isWebGPUSupported() ? "WebGPU is not available in this browser"
    : (window.isSecureContext ? null : "WebGPU needs a secure context (https or localhost)");
  if (status.webgpu === null && !(await navigator.gpu.requestAdapter().catch(() => null))) {
    status.webgpu = "navigator.gpu gave no adapter (no usable GPU)";
  }
  status.webnn = !("ml" in navigator) ? "WebNN is not available in this browser"
    : (!(await litert.supportsFeature("jspi")) ? "WebNN in LiteRT.js needs JSPI, which this browser lacks" : null);
  return wanted.map((name) => ({name, unavailable: status[name]}));
}

function latencyBlock(loadMs, t, p) {
  const block = {load_ms: loadMs, first_ms: t.firstMs, warmup_runs: t.warmupRuns, warmup_s: t.warmupS,
                 runs: t.samplesMs.length, duration_s: t.durationS};
  if (t.samplesMs.length) {
    Object.assign(block, latencyStats(t.samplesMs, p.stability_cv_max, p.stability_drift_max));
  } else {
    for (const k of ["min_ms", "median_ms", "mean_ms", "p90_ms", "p99_ms", "max_ms", "std_ms", "trimmed_mean_ms", "cv"]) {
      block[k] = null;
    }
    block.stability = {stable: false, drift: null};
  }
  block.runs = t.samplesMs.length;
  if (t.samplesMs.length <= MAX_POSTED_SAMPLES) block.samples_ms = t.samplesMs;
  return block;
}

async function readOutput(tensor) {
  if (tensor.accelerator === "wasm") return Array.from(tensor.toTypedArray());
  const moved = await tensor.copyTo("wasm");
  try {
    return Array.from(moved.toTypedArray());
  } finally {
    moved.delete();
  }
}

/** One inference: run, read the first output (so a GPU run has finished), free every output tensor. */
async function infer(compiled, input) {
  const outs = await compiled.run(input);
  try {
    return await readOutput(outs[0]);
  } finally {
    for (const t of outs) t.delete();
  }
}

function inputFor(shape, reference) {
  const size = shape.reduce((a, b) => a * b, 1);
  const sameSample = reference && reference.shape.slice(1).join() === shape.slice(1).join()
    && reference.shape[0] >= shape[0];
  return sameSample ? reference.data.slice(0, size) : new Float32Array(size);
}

async function benchOne(spec, litert, entry, accel, device, env, reference) {
  const p = spec.protocol;
  const threaded = env.threads > 1;
  const doc = {
    schema: "vitsdk.results/1", run_id: spec.run_id, created_utc: utcNow(), status: "complete", error: null,
    tool: spec.tool, device,
    runtime: {name: "litert.js", version: spec.litert_version, delegate: accel, threads: env.threads,
              extra: {accelerator: accel, cross_origin_isolated: window.crossOriginIsolated === true,
                      wasm_threads: threaded, timer_resolution_ms: env.timerResolutionMs,
                      accelerators_unavailable: env.unavailable, screen_wake_lock: env.wakeLock,
                      timed: "run (with the input copy an accelerator needs) + read of the first output"}},
    model: entry.model, protocol: p, latency: null,
    energy: {status: "unavailable", method: "none", reason: "model was not run"},
    thermal: {before: {state: null}, after: {state: null}},
    numerics: {status: "skipped", reason: "judged on the host from the posted outputs"},
  };
  let outputs = null;
  let compiled = null;
  let input = null;
  try {
    const bytes = new Uint8Array(await (await fetch(entry.url)).arrayBuffer());
    const options = {accelerator: accel};
    if (accel === "wasm") options.cpuOptions = {numThreads: env.threads};
    const t0 = performance.now();
    compiled = await litert.loadAndCompile(bytes, options);
    const loadMs = performance.now() - t0;
    doc.runtime.extra.fully_accelerated = compiled.isFullyAccelerated;
    const details = compiled.getInputDetails();
    if (details.length !== 1) throw new Error(`the model has ${details.length} inputs; the benchmark feeds one`);
    const shape = Array.from(details[0].shape);
    if (details[0].dtype !== "float32") {
      throw new Error(`input dtype ${details[0].dtype}: the page feeds float32 (export fp32, fp16 or int8 with float I/O)`);
    }
    input = new litert.Tensor(inputFor(shape, reference), shape);
    const energyOn = spec.battery_wh && p.idle_baseline_seconds > 0;
    let idle = null;
    if (energyOn) {
      const before = await readBattery(navigator, clock);
      if (before && !before.charging) {
        await progress(`idle baseline ${p.idle_baseline_seconds} s (battery)`);
        await sleep(p.idle_baseline_seconds);
        idle = {before, after: await readBattery(navigator, clock)};
      }
    }
    const batteryBefore = await readBattery(navigator, clock);
    const t = await measure(() => infer(compiled, input), p, clock);
    const batteryAfter = await readBattery(navigator, clock);
    doc.latency = latencyBlock(loadMs, t, p);
    doc.runtime.extra.samples_posted = "samples_ms" in doc.latency;
    doc.energy = batteryEnergy({api: batteryBefore !== null,
                                active: batteryBefore && {before: batteryBefore, after: batteryAfter},
                                idle, inferences: t.samplesMs.length, capacityWh: spec.battery_wh});
    if (t.stopped) Object.assign(doc, {status: t.samplesMs.length ? "partial" : "failed", error: t.stopped});
    if (reference && reference.shape.slice(1).join() === shape.slice(1).join()) {
      const batch = shape[0];
      const per = shape.slice(1).reduce((a, b) => a * b, 1);
      const usable = reference.shape[0] - reference.shape[0] % batch;
      const data = [];
      for (let i = 0; i < usable; i += batch) {
        const x = new litert.Tensor(reference.data.slice(i * per, (i + batch) * per), shape);
        try {
          data.push(...await infer(compiled, x));
        } finally {
          x.delete();
        }
      }
      outputs = {count: usable, data};
    }
  } catch (err) {
    Object.assign(doc, {status: "failed", error: `${err.name || "Error"}: ${err.message || err}`, latency: null});
    doc.energy = {status: "unavailable", method: "none", reason: "the model failed to run"};
    doc.numerics = {status: "skipped", reason: "the model failed to run"};
  } finally {
    if (input) input.delete();
    if (compiled) compiled.delete();
  }
  return {results: doc, outputs};
}

async function loadRuntime(spec, jspi) {
  const litert = await import("@litertjs/core");
  const threads = window.crossOriginIsolated === true && !jspi;
  await litert.loadLiteRt("./litert/core/wasm/", {threads, jspi});
  const cores = navigator.hardwareConcurrency || 1;
  return {litert, threads: threads ? (spec.threads || cores) : 1};
}

/** Keeps a phone's screen on during a long run (Screen Wake Lock; needs a secure context), if it can. */
async function keepAwake() {
  try {
    await navigator.wakeLock.request("screen");
    return true;
  } catch {
    return false;
  }
}

async function main() {
  const spec = await (await fetch("spec.json")).json();
  document.getElementById("title").textContent = `vitsdk bench: ${spec.run_id}`;
  const device = await describeDevice();
  await progress(`${device.name}; cross-origin isolated: ${window.crossOriginIsolated === true}`);
  let {litert, threads} = await loadRuntime(spec, false);
  const env = {threads, timerResolutionMs: timerResolutionMs(), wakeLock: await keepAwake()};
  const reference = spec.reference_inputs ? parseNpy(await (await fetch(spec.reference_inputs)).arrayBuffer()) : null;
  const skipped = [];
  let first = true;
  const available = await accelerators(spec.accelerators, litert);
  // every results file says which requested accelerators this browser lacked, and why
  env.unavailable = available.filter((a) => a.unavailable).map((a) => `${a.name}: ${a.unavailable}`).join("; ") || null;
  for (const accel of available) {
    if (accel.unavailable) {
      skipped.push({accelerator: accel.name, reason: accel.unavailable});
      show(`skip ${accel.name}: ${accel.unavailable}`);   // the host prints the skipped ones at the end
      continue;
    }
    if (accel.name === "webnn") {   // WebNN runs in the JSPI build only
      litert.unloadLiteRt();
      ({litert, threads} = await loadRuntime(spec, true));
      env.threads = threads;
    }
    for (const entry of spec.models) {
      if (!first && spec.protocol.cooldown_seconds) await sleep(spec.protocol.cooldown_seconds);
      first = false;
      await progress(`run ${entry.model.file} (${accel.name}, ${env.threads} thread(s))`);
      const envelope = await benchOne(spec, litert, entry, accel.name, device, env, reference);
      const lat = envelope.results.latency;
      await progress(`${entry.model.file} ${accel.name}: ${envelope.results.status}` +
                     (lat ? `, median ${lat.median_ms.toFixed(3)} ms over ${lat.runs} runs` : `: ${envelope.results.error}`));
      await post("result", envelope);
    }
  }
  await post("done", {skipped});
  show("done: the results are on the host.");
}

main().catch(async (err) => {
  const message = `${err.name || "Error"}: ${err.message || err}`;
  show(`error: ${message}`);
  await post("event", {kind: "error", message}).catch(() => {});
});
