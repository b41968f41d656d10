"""The adb transport of `vitsdk bench --device android`: finding adb, choosing the phone, running adb
commands and reading the files an app writes. What to run and how the app reports back is
`bench/android.py`'s business.

Every adb call is an argument list. `adb shell` joins its arguments into one remote shell line, so
every device-side argument is built from checked names (run ids, bundle-relative paths) and quoted
(`quote`). Failures that mean the phone went away raise `DeviceLost`; everything else is a UserError.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from vitsdk.errors import UserError

_SAFE = re.compile(r"^[A-Za-z0-9._/-]+$")
_LOST = ("not found", "no devices/emulators found", "device offline", "device still authorizing",
         "closed", "protocol fault", "connection reset")


class DeviceLost(Exception):
    """adb lost the device mid-run (cable pulled, Wi-Fi dropped, phone rebooted)."""


def find_adb(explicit: str | None = None) -> str:
    """adb: `explicit`, else PATH, else $ANDROID_HOME / $ANDROID_SDK_ROOT platform-tools."""
    if explicit:
        return explicit
    found = shutil.which("adb")
    if found:
        return found
    for var in ("ANDROID_HOME", "ANDROID_SDK_ROOT"):
        home = os.environ.get(var)
        if home and (Path(home) / "platform-tools" / "adb").is_file():
            return str(Path(home) / "platform-tools" / "adb")
    raise UserError("adb not found: install Android platform-tools (e.g. `apt-get install adb` or Android Studio's "
                    "SDK Manager) and put adb on PATH, or set ANDROID_HOME")


def quote(arg: str) -> str:
    """A device-side shell argument: only checked names reach here, quoted all the same."""
    if not _SAFE.match(arg):
        raise UserError(f"'{arg}' has characters that cannot be passed to the device shell safely; "
                        "rename it to letters, digits and ._-/")
    return shlex.quote(arg)


class Adb:
    """adb with one device selected; every call is an argument list, failures become clear errors."""

    def __init__(self, adb: str, serial: str | None = None) -> None:
        self.adb = adb
        self.serial = serial

    def run(self, *args: str, timeout: float = 600.0, binary: bool = False) -> subprocess.CompletedProcess:
        cmd = [self.adb] + (["-s", self.serial] if self.serial else []) + list(args)
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout, text=not binary)
        except FileNotFoundError:
            raise UserError(f"adb not found at {self.adb}") from None
        except subprocess.TimeoutExpired:
            raise DeviceLost(f"adb {' '.join(args[:2])} did not answer within {timeout:.0f} s") from None
        err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode(errors="replace")
        if proc.returncode != 0 and any(s in err for s in _LOST) and "No such file" not in err:
            if "unauthorized" in err:
                raise UserError(_unauthorized(self.serial))
            raise DeviceLost(err.strip().splitlines()[0] if err.strip() else "device lost")
        if proc.returncode != 0 and "unauthorized" in err:
            raise UserError(_unauthorized(self.serial))
        return proc

    def shell(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
        return self.run("shell", *args, timeout=timeout)


def _unauthorized(serial: str | None) -> str:
    return (f"device {serial or ''} is unauthorized: unlock the phone and accept the 'Allow USB debugging' prompt "
            "(or revoke and re-accept it in Developer options), then run again")


def attached_devices(adb: Adb) -> dict[str, str]:
    """`adb devices` as {serial: state} (device, unauthorized, offline, ...)."""
    proc = adb.run("devices")
    if proc.returncode != 0:
        raise UserError(f"`adb devices` failed: {proc.stderr.strip()}")
    devices = {}
    lines = proc.stdout.splitlines()
    start = next((i + 1 for i, line in enumerate(lines) if line.startswith("List of devices")), len(lines))
    for line in lines[start:]:   # skips "* daemon not running; starting now" and the like
        parts = line.split()
        if len(parts) >= 2:
            devices[parts[0]] = " ".join(parts[1:])
    return devices


def pick_device(adb: Adb, serial: str | None) -> str:
    """The serial to use; errors for no device, an unauthorised one, or several without --serial."""
    devices = attached_devices(adb)
    hint = "connect the phone by USB, or over Wi-Fi with `adb pair` / `adb connect IP:PORT` (android_app/README.md)"
    if serial is not None:
        if serial not in devices:
            listed = f" (attached: {', '.join(devices)})" if devices else ""
            raise UserError(f"device '{serial}' not found by adb{listed}; {hint}")
        candidates = {serial: devices[serial]}
    else:
        if not devices:
            raise UserError(f"no Android device found (`adb devices` lists none); {hint}")
        if len(devices) > 1:
            raise UserError(f"{len(devices)} devices attached; choose one with --serial ({', '.join(devices)})")
        candidates = devices
    (chosen, state), = candidates.items()
    if state.startswith("unauthorized"):
        raise UserError(_unauthorized(chosen))
    if state.startswith("no permissions"):
        raise UserError(f"adb has no permission to use device {chosen}: add a udev rule for it (Android docs: "
                        "'Set up a device for development'), or run the adb server as your user")
    if state != "device":
        raise UserError(f"device {chosen} is '{state}', not ready; wait for it to boot, or reconnect it")
    return chosen


def device_properties(adb: Adb) -> dict:
    """The results' device block from `getprop` (used for results the phone could not deliver)."""
    props = {}
    for line in adb.shell("getprop").stdout.splitlines():
        m = re.match(r"^\[([^\]]+)\]: \[(.*)\]$", line.strip())
        if m:
            props[m.group(1)] = m.group(2)
    sdk = props.get("ro.build.version.sdk", "")
    return {"platform": "android", "name": props.get("ro.product.model") or adb.serial or "android",
            "manufacturer": props.get("ro.product.manufacturer"), "model": props.get("ro.product.model"),
            "soc": props.get("ro.soc.model") or props.get("ro.board.platform") or props.get("ro.hardware"),
            "os": "android", "os_version": props.get("ro.build.version.release", "unknown"),
            "api_level": int(sdk) if sdk.isdigit() else None, "cpu_cores": None, "memory_bytes": None,
            "serial": adb.serial}


def ready_serials(adb: Adb, serials: list[str], all_devices: bool) -> list[str]:
    """The phones to use: every listed serial must be attached; --all-devices takes the ready ones."""
    attached = attached_devices(adb)
    if all_devices:
        ready = [s for s, state in attached.items() if state == "device"]
        if not ready:
            raise UserError("--all-devices: no ready Android device (`adb devices` lists "
                            + (", ".join(f"{s} {st}" for s, st in attached.items()) or "none") + ")")
        return ready
    missing = [s for s in serials if s not in attached]
    if missing:
        raise UserError(f"--serial {', '.join(missing)}: not found by adb (attached: {', '.join(attached) or 'none'})")
    return serials


class AppFolder:
    """Reads files of one folder an app writes: `adb pull` from its external-storage path first, then
    `run-as PACKAGE cat` of its internal path (debuggable builds) once a pull is denied."""

    def __init__(self, adb: Adb, package: str, external: str, internal: str) -> None:
        self.adb = adb
        self.package = package
        self.external = external   # e.g. /sdcard/Android/data/<package>/files/results/<run>
        self.internal = internal   # the same folder relative to the app's data dir, for run-as
        self.use_run_as = False

    def read(self, name: str, tmp: Path) -> bytes | None:
        """A file of the folder, or None when it does not exist (yet)."""
        if not self.use_run_as:
            remote = f"{self.external}/{name}"
            local = tmp / name
            proc = self.adb.run("pull", remote, str(local))
            if proc.returncode == 0 and local.is_file():
                return local.read_bytes()
            if "Permission denied" in proc.stderr:
                self.use_run_as = True
            elif "does not exist" in proc.stderr or "No such file" in proc.stderr:
                return None
            else:
                raise UserError(f"adb pull {remote} failed: {proc.stderr.strip()}")
        proc = self.adb.run("exec-out", "run-as", self.package, "cat", quote(f"{self.internal}/{name}"), binary=True)
        err = proc.stderr.decode(errors="replace")
        if proc.returncode == 0:
            return proc.stdout
        if "No such file" in err or "No such file" in proc.stdout.decode(errors="replace"):
            return None
        if "not debuggable" in err or "not debuggable" in proc.stdout.decode(errors="replace"):
            raise UserError(f"cannot read the app's results: `adb pull` was denied and run-as needs a debuggable "
                            f"build of {self.package} (install the debug APK, android_app/README.md)")
        raise UserError(f"adb run-as {self.package} cat failed: {err.strip()}")


def wait_reconnect(adb: Adb, within_s: float, poll_s: float) -> bool:
    """True once adb lists `adb.serial` as ready again; False after `within_s` seconds."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            proc = Adb(adb.adb).run("devices")
        except DeviceLost:
            proc = None
        if proc is not None and any(line.split()[:2] == [adb.serial, "device"] for line in proc.stdout.splitlines()):
            return True
        time.sleep(max(poll_s, 0.1))
    return False
