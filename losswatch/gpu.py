"""GPU sampling through NVML (nvidia-ml-py, the `pynvml` module), as series in the store.

Why it looks like this:
- `Nvml` is a thin defensive wrapper: every NVML call can fail, and every failure is sorted in one
  place (`Nvml.call`) into "this field is not supported here", "this device is lost", "this device
  is not answering". Nothing else in losswatch touches pynvml.
- `GpuReader.read()` makes one reading of all devices (and of the job's processes on them); it never
  raises. A machine without driver or GPU is one state, "no_gpu", said once.
- `GpuSampler` reads at a fixed rate (1 Hz by default) in its own thread and hands each reading to a
  callback as a `SampleBatch`. The NVML calls run in a second thread so that a call that hangs in
  the driver is noticed (reported once) and never blocks whoever consumes the batches.
- `attach_to_loop` is the glue to the live loop: batches are posted to the loop, which adds them to
  each run's store, where rules and faces use them like any metric.

Series (wall-time samples; the step is the reading's sequence number, line 0):
`gpu.util` (mean %, over the job's devices, else all), `gpu.mem_used` (sum, MiB), `gpu.mem_frac`
(max over devices of used/total, 0..1: the fullest device is the one that runs out), `gpu.temp`
(max, °C), `gpu.temp_margin` (min of slowdown threshold − temperature, °C), `gpu.power` (sum, W);
per device (NVML index, as nvidia-smi counts) `gpu0.util`, `gpu0.mem_frac`, `gpu0.mem_used`,
`gpu0.temp`, `gpu0.power`; for a known job `job.alive` (1/0) and `job.gpu_mem` (MiB over the job's
process tree, only where NVML's pids can be matched to ours).
"""

from __future__ import annotations

import importlib
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import psutil

from losswatch.model import SampleBatch

MiB = float(1 << 20)
DEFAULT_INTERVAL = 1.0

# NVML return codes (nvml.h); compared by value so any nvidia-ml-py version works.
_NOT_SUPPORTED, _NO_PERMISSION, _NOT_FOUND, _FUNCTION_NOT_FOUND, _VERSION_MISMATCH = 3, 4, 6, 13, 25
_GPU_IS_LOST, _RESET_REQUIRED = 15, 16
_DRIVER_NOT_LOADED, _LIBRARY_NOT_FOUND, _LIB_RM_VERSION_MISMATCH = 9, 12, 18
UNSUPPORTED_CODES = frozenset({_NOT_SUPPORTED, _NO_PERMISSION, _NOT_FOUND, _FUNCTION_NOT_FOUND, _VERSION_MISMATCH})
LOST_CODES = frozenset({_GPU_IS_LOST, _RESET_REQUIRED})

NO_GPU_REASONS = {
    _LIBRARY_NOT_FOUND: "no NVIDIA driver: the NVML library (libnvidia-ml.so.1) is not installed",
    _DRIVER_NOT_LOADED: "the NVIDIA driver is not loaded",
    _LIB_RM_VERSION_MISMATCH: "the NVIDIA driver and its NVML library differ in version (reboot after an upgrade?)",
    _NO_PERMISSION: "no permission to use the NVIDIA driver",
}


# --- what a reading is ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuStatus:
    """A change worth telling the user once: "no_gpu", "ready", "device_lost", "device_error",
    "device_ok", "hung", "answering", "pids_hidden", "job_devices", "error"."""

    kind: str
    message: str
    device: int | None = None

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"status": self.kind, "message": self.message}
        if self.device is not None:
            d["device"] = self.device
        return d


@dataclass
class ProcessReading:
    pid: int
    used_mib: float | None  # None: NVML cannot say (MIG, WDDM)
    device: int


@dataclass
class DeviceReading:
    index: int
    name: str
    uuid: str
    util: float | None = None
    mem_util: float | None = None
    mem_used_mib: float | None = None
    mem_total_mib: float | None = None
    temp: float | None = None
    temp_slowdown: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    processes: list[ProcessReading] | None = None
    error: str | None = None  # set when the device did not answer this time

    @property
    def mem_frac(self) -> float | None:
        if self.mem_used_mib is None or not self.mem_total_mib:
            return None
        return self.mem_used_mib / self.mem_total_mib


@dataclass
class JobReading:
    pid: int
    alive: bool
    devices: list[int]  # NVML indices the job can use (CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES)
    pids: str  # "visible" | "hidden" (container: NVML's pids match nothing here) | "unknown"
    gpu_mem_mib: float | None = None
    processes: list[ProcessReading] = field(default_factory=list)


@dataclass
class GpuReading:
    wall_time: float
    state: str  # "ok" | "no_gpu"
    reason: str = ""
    driver: str = ""
    devices: list[DeviceReading] = field(default_factory=list)
    selected: list[int] = field(default_factory=list)  # devices the aggregate gpu.* series cover
    job: JobReading | None = None
    notes: list[GpuStatus] = field(default_factory=list)


# --- NVML, defensively ----------------------------------------------------------------------------


class DeviceLost(Exception):
    """The device fell off the bus or needs a reset: stop asking it."""


class DeviceFailed(Exception):
    """The device did not answer this time (timeout, unknown error): ask again next time."""


def _text(x: Any) -> str:
    """Strings from NVML: old nvidia-ml-py versions return bytes."""
    if x is None:
        return ""
    return x.decode(errors="replace") if isinstance(x, bytes) else str(x)


@dataclass
class _Device:
    index: int
    handle: Any
    name: str = "?"
    uuid: str = ""
    state: str = "ok"  # "ok" | "failing" | "lost"
    unsupported: set[str] = field(default_factory=set)
    slowdown: float | None = None
    power_limit: float | None = None
    static_done: bool = False


class Nvml:
    """The one place that calls pynvml. Every call goes through `call`, which sorts failures."""

    def __init__(self, lib: ModuleType | None = None) -> None:
        self.lib = lib
        self.ok = False
        self.reason = ""
        self.driver = ""
        self.devices: list[_Device] = []
        self.current: tuple[str, int | None, float] | None = None  # call in progress (for hang reports)

    def open(self) -> bool:
        """Initialise NVML and find the devices; False (with `reason`) when there is no usable GPU."""
        lib = self.lib
        if lib is None:
            try:
                lib = self.lib = importlib.import_module("pynvml")
            except ImportError:
                self.reason = "nvidia-ml-py (the pynvml module) is not installed"
                return False
        started = False
        try:
            self.current = ("nvmlInit", None, time.monotonic())
            lib.nvmlInit()
            started = True
            count = lib.nvmlDeviceGetCount()
        except Exception as e:  # NVMLError, or OSError from a broken library
            code = getattr(e, "value", None)
            self.reason = NO_GPU_REASONS.get(code, f"NVML could not start: {e}")  # type: ignore[arg-type]
            if started:
                self._shutdown()
            return False
        finally:
            self.current = None
        try:
            self.driver = _text(lib.nvmlSystemGetDriverVersion())
        except Exception:
            self.driver = ""
        for i in range(count):
            try:
                handle = lib.nvmlDeviceGetHandleByIndex(i)
            except Exception as e:  # e.g. Insufficient Permissions: a GPU not given to this container
                dev = _Device(i, None, state="lost")
                dev.name = f"not accessible ({e})"
                self.devices.append(dev)
                continue
            dev = _Device(i, handle)
            dev.name = _text(self.call(dev, "name", "nvmlDeviceGetName", handle, quiet=True)) or "?"
            dev.uuid = _text(self.call(dev, "uuid", "nvmlDeviceGetUUID", handle, quiet=True))
            self.devices.append(dev)
        if not self.devices:
            self.reason = "no NVIDIA GPU found (the driver is loaded but reports 0 devices)"
        elif all(d.state == "lost" for d in self.devices):
            self.reason = f"no accessible GPU: gpu0 is {self.devices[0].name}"
        if self.reason:
            self._shutdown()
            return False
        self.ok = True
        return True

    def _shutdown(self) -> None:
        try:
            self.lib.nvmlShutdown()  # type: ignore[union-attr]
        except Exception:
            pass

    def close(self) -> None:
        if self.ok:
            self._shutdown()
        self.ok = False

    def call(self, dev: _Device, what: str, fn: str, *args: Any, quiet: bool = False) -> Any:
        """`lib.fn(*args)` for `dev`; None where `what` is not supported on it.

        Raises DeviceLost / DeviceFailed (unless `quiet`, which turns every failure into None).
        """
        if what in dev.unsupported:
            return None
        lib = self.lib
        self.current = (fn, dev.index, time.monotonic())
        try:
            func = getattr(lib, fn, None)
            if func is None:  # an older nvidia-ml-py without this function
                dev.unsupported.add(what)
                return None
            return func(*args)
        except Exception as e:
            if not isinstance(e, (getattr(lib, "NVMLError", OSError), OSError)) and \
                    type(e).__name__ != "NVMLLibraryMismatchError":
                raise  # a bug, not the driver: let it show
            code = getattr(e, "value", None)
            if code in UNSUPPORTED_CODES or type(e).__name__ == "NVMLLibraryMismatchError":
                dev.unsupported.add(what)
                return None
            if quiet:
                return None
            if code in LOST_CODES:
                raise DeviceLost(str(e)) from None
            raise DeviceFailed(f"{fn}: {e}") from None
        finally:
            self.current = None


# --- which devices and processes are the job's ----------------------------------------------------


PROC_PID_INIT_INO = 0xEFFFFFFC  # the kernel's fixed inode number of the initial pid namespace


def nested_pid_namespace() -> bool:
    """True when this process lives in its own pid namespace (a container without --pid=host).

    There, NVML reports the host's pids for GPU processes, which match nothing (or the wrong thing) here.
    The initial pid namespace always has inode PROC_PID_INIT_INO (Linux ≥ 3.8); a container's /proc
    shows only its own pids, so this is the one test that works from inside.
    """
    try:
        return os.stat("/proc/self/ns/pid").st_ino != PROC_PID_INIT_INO
    except OSError:
        return False


def parse_visible(spec: str | None, uuids: Sequence[str]) -> list[int] | None:
    """Positions in `uuids` that a CUDA_VISIBLE_DEVICES-style list selects; None = no restriction.

    As CUDA reads it: comma-separated indices or (unique prefixes of) GPU UUIDs, the list ending at the
    first entry that names no device; "" or "-1" select none. NVIDIA_VISIBLE_DEVICES also says "all",
    "none" and "void". MIG instances cannot be mapped here: None (all devices).
    """
    if spec is None:
        return None
    s = spec.strip()
    if s.lower() == "all":
        return None
    if s.lower() in ("none", "void"):
        return []
    out: list[int] = []
    for token in (t.strip() for t in s.split(",")):
        if token.upper().startswith("MIG-"):
            return None
        pos: int | None = None
        if token.lstrip("-").isdigit():
            n = int(token)
            pos = n if 0 <= n < len(uuids) else None
        elif token.upper().startswith("GPU-"):
            hits = [i for i, u in enumerate(uuids) if u.lower().startswith(token.lower())]
            pos = hits[0] if len(hits) == 1 else None
        if pos is None:
            break
        if pos not in out:
            out.append(pos)
    return out


def job_devices(env: Mapping[str, str] | None, uuids: Sequence[str], nested: bool) -> list[int]:
    """The NVML indices a job with environment `env` can use.

    NVIDIA_VISIBLE_DEVICES (the container runtime's list, in host indices) counts only when we look at
    the job from outside its container; inside it NVML already sees only those devices. CUDA_VISIBLE_DEVICES
    then indexes into what is left. CUDA orders devices fastest first unless CUDA_DEVICE_ORDER=PCI_BUS_ID;
    NVML orders by PCI bus: on machines with identical GPUs the two agree.
    """
    base = list(range(len(uuids)))
    if env is None:
        return base
    if not nested:
        sel = parse_visible(env.get("NVIDIA_VISIBLE_DEVICES"), uuids)
        if sel is not None:
            base = sel
    sel = parse_visible(env.get("CUDA_VISIBLE_DEVICES"), [uuids[i] for i in base])
    return base if sel is None else [base[i] for i in sel]


@dataclass
class Job:
    """The training job whose GPU memory we sum: a pid, and its environment where we were given it."""

    pid: int
    env: Mapping[str, str] | None = None


class _JobWatch:
    """Tracks one job: alive or not, and which NVML processes belong to its process tree."""

    HIDDEN_AFTER = 3  # readings in a row where NVML's pids all match nothing here

    def __init__(self, job: Job, nested: bool) -> None:
        self.pid = job.pid
        self.env = job.env
        self.nested = nested
        self.proc: psutil.Process | None
        try:
            self.proc = psutil.Process(job.pid)
            self.created = self.proc.create_time()
        except psutil.Error:
            self.proc, self.created = None, math.inf
        if self.env is None and self.proc is not None:
            try:
                self.env = self.proc.environ()
            except psutil.Error:
                self.env = None
        self.hidden = nested
        self._unmatched = 0

    def alive(self) -> bool:
        if self.proc is None:
            return False
        try:
            return self.proc.is_running() and self.proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def owns(self, pid: int) -> bool:
        """Is `pid` the job or one of its descendants (walking up the parents, not listing the tree)?"""
        if self.proc is None:
            return False
        try:
            p = psutil.Process(pid)
            for _ in range(64):
                if p.pid == self.pid:
                    return p.create_time() == self.created
                if p.create_time() < self.created:
                    return False  # older than the job: cannot be its child
                parent = p.ppid()
                if parent <= 1:
                    return False
                p = psutil.Process(parent)
        except psutil.Error:
            return False
        return False

    def read(self, procs: list[ProcessReading], devices: list[int]) -> JobReading:
        alive = self.alive()
        if self.hidden:
            return JobReading(self.pid, alive, devices, "hidden")
        if procs and not any(psutil.pid_exists(p.pid) for p in procs):
            self._unmatched += 1
            if self._unmatched >= self.HIDDEN_AFTER:
                self.hidden = True
            return JobReading(self.pid, alive, devices, "hidden" if self.hidden else "unknown")
        self._unmatched = 0
        owned = {pid: self.owns(pid) for pid in {p.pid for p in procs}}  # a pid is on several GPUs
        mine = [p for p in procs if owned[p.pid]]
        used: float | None = 0.0
        for p in mine:
            used = None if used is None or p.used_mib is None else used + p.used_mib
        return JobReading(self.pid, alive, devices, "visible", used, mine)


# --- one reading ----------------------------------------------------------------------------------


class GpuReader:
    """Reads every device once per `read()`. Never raises: failures become states and notes."""

    def __init__(self, lib: ModuleType | None = None, job: Job | None = None,
                 devices: Sequence[int] | None = None, processes: bool = True) -> None:
        self.nvml = Nvml(lib)
        self.job = job
        self.only = list(devices) if devices is not None else None
        self.processes = processes or job is not None
        self._opened = False
        self._watch: _JobWatch | None = None
        self._selected: list[int] = []
        self._pids_note = False

    def _open(self, notes: list[GpuStatus]) -> None:
        self._opened = True
        if not self.nvml.open():
            notes.append(GpuStatus("no_gpu", f"no GPU: {self.nvml.reason}; GPU rules are inactive"))
            return
        for d in self.nvml.devices:
            if d.state == "lost":
                notes.append(GpuStatus("device_lost", f"gpu{d.index} {d.name}: not sampled", d.index))
        usable = [d for d in self.nvml.devices if d.state != "lost"]
        names = ", ".join(f"gpu{d.index} {d.name}" for d in usable)
        notes.append(GpuStatus("ready", f"{len(usable)} GPU(s): {names}"
                               + (f" (driver {self.nvml.driver})" if self.nvml.driver else "")))
        selected = [d.index for d in usable]
        if self.only is not None:
            selected = [i for i in self.only if i in selected]
        if self.job is not None:
            nested = nested_pid_namespace()
            self._watch = _JobWatch(self.job, nested)
            # CUDA numbers the GPUs it can open, as NVML lists them: positions among the usable ones
            mine = [usable[p].index for p in job_devices(self._watch.env, [d.uuid for d in usable], nested)]
            selected = [i for i in selected if i in mine]
            if self._watch.env is None:
                notes.append(GpuStatus("job_devices", f"cannot read the environment of pid {self.job.pid}: "
                                       "assuming it may use every GPU"))
            elif len(mine) < len(usable):
                notes.append(GpuStatus("job_devices", "job uses " + (
                    ", ".join(f"gpu{i}" for i in mine) if mine else "no GPU") + " (from its *_VISIBLE_DEVICES)"))
        self._selected = selected

    def close(self) -> None:
        self.nvml.close()

    def read(self) -> GpuReading:
        now = time.time()
        notes: list[GpuStatus] = []
        if not self._opened:
            self._open(notes)
        if not self.nvml.ok:
            return GpuReading(now, "no_gpu", self.nvml.reason, notes=notes)
        readings = []
        for dev in self.nvml.devices:
            if dev.state == "lost":
                continue
            r = self._read_device(dev, notes)
            if r is not None:
                readings.append(r)
        reading = GpuReading(now, "ok", driver=self.nvml.driver, devices=readings,
                             selected=list(self._selected), notes=notes)
        if self._watch is not None:
            procs = [p for d in readings if d.processes for p in d.processes]
            reading.job = self._watch.read(procs, list(self._selected))
            if reading.job.pids == "hidden" and not self._pids_note:
                self._pids_note = True
                why = ("losswatch runs in its own pid namespace (a container)" if self._watch.nested
                       else "none of the pids NVML reports exist here")
                notes.append(GpuStatus("pids_hidden", f"cannot match GPU processes to the job: {why}; "
                                       "NVML reports host pids, so job.gpu_mem is not recorded"))
        return reading

    def _read_device(self, dev: _Device, notes: list[GpuStatus]) -> DeviceReading | None:
        nv, h = self.nvml, dev.handle
        r = DeviceReading(dev.index, dev.name, dev.uuid)
        try:
            if not dev.static_done:
                t = nv.call(dev, "slowdown", "nvmlDeviceGetTemperatureThreshold", h,
                            getattr(nv.lib, "NVML_TEMPERATURE_THRESHOLD_SLOWDOWN", 1))
                dev.slowdown = float(t) if t else None
                p = nv.call(dev, "power_limit", "nvmlDeviceGetEnforcedPowerLimit", h)
                dev.power_limit = p / 1000.0 if p else None
                dev.static_done = True
            r.temp_slowdown, r.power_limit_w = dev.slowdown, dev.power_limit
            u = nv.call(dev, "util", "nvmlDeviceGetUtilizationRates", h)
            if u is not None:
                r.util, r.mem_util = float(u.gpu), float(u.memory)
            # v2 counts driver-reserved memory apart from "used", as nvidia-smi does; older drivers: v1
            v2 = getattr(nv.lib, "nvmlMemory_v2", None)
            m = nv.call(dev, "memory_v2", "nvmlDeviceGetMemoryInfo", h, v2) if v2 is not None else None
            if m is None:
                m = nv.call(dev, "memory", "nvmlDeviceGetMemoryInfo", h)
            if m is not None:
                r.mem_used_mib, r.mem_total_mib = m.used / MiB, m.total / MiB
            t = nv.call(dev, "temp", "nvmlDeviceGetTemperature", h, getattr(nv.lib, "NVML_TEMPERATURE_GPU", 0))
            r.temp = None if t is None else float(t)
            p = nv.call(dev, "power", "nvmlDeviceGetPowerUsage", h)
            r.power_w = None if p is None else p / 1000.0
            if self.processes:
                procs = nv.call(dev, "processes", "nvmlDeviceGetComputeRunningProcesses", h)
                if procs is not None:
                    r.processes = [ProcessReading(int(p.pid), None if p.usedGpuMemory is None
                                                  else p.usedGpuMemory / MiB, dev.index) for p in procs]
        except DeviceLost as e:
            dev.state = "lost"
            notes.append(GpuStatus("device_lost", f"gpu{dev.index} lost ({e}): no more readings from it; "
                                   "the other GPUs are still sampled", dev.index))
            return None
        except DeviceFailed as e:
            if dev.state != "failing":
                dev.state = "failing"
                notes.append(GpuStatus("device_error", f"gpu{dev.index} is not answering ({e}); "
                                       "will keep asking", dev.index))
            r.error = str(e)
            return r
        if dev.state == "failing":
            dev.state = "ok"
            notes.append(GpuStatus("device_ok", f"gpu{dev.index} answers again", dev.index))
        return r


# --- readings → samples ---------------------------------------------------------------------------


def reading_series(reading: GpuReading) -> dict[str, float]:
    """The series values of one reading (see the module docstring); devices without data add nothing."""
    out: dict[str, float] = {}
    sel = set(reading.selected)
    agg: list[DeviceReading] = []
    for d in reading.devices:
        if d.error is not None:
            continue
        p = f"gpu{d.index}."
        for name, v in (("util", d.util), ("mem_frac", d.mem_frac), ("mem_used", d.mem_used_mib),
                        ("temp", d.temp), ("power", d.power_w)):
            if v is not None:
                out[p + name] = v
        if d.index in sel:
            agg.append(d)

    def vals(attr: str) -> list[float]:
        return [v for v in (getattr(d, attr) for d in agg) if v is not None]

    for name, attr, fn in (("gpu.util", "util", lambda xs: sum(xs) / len(xs)),
                           ("gpu.mem_frac", "mem_frac", max), ("gpu.mem_used", "mem_used_mib", sum),
                           ("gpu.temp", "temp", max), ("gpu.power", "power_w", sum)):
        xs = vals(attr)
        if xs:
            out[name] = fn(xs)
    margins = [d.temp_slowdown - d.temp for d in agg if d.temp is not None and d.temp_slowdown]
    if margins:
        out["gpu.temp_margin"] = min(margins)
    job = reading.job
    if job is not None:
        out["job.alive"] = 1.0 if job.alive else 0.0
        if job.pids == "visible" and job.gpu_mem_mib is not None:
            out["job.gpu_mem"] = job.gpu_mem_mib
    return out


def reading_to_batch(reading: GpuReading, step: float) -> SampleBatch:
    batch = SampleBatch(reading.wall_time)
    for name, value in reading_series(reading).items():
        batch.add(name, step, value, 0)
    return batch


# --- the sampler thread ---------------------------------------------------------------------------


class GpuSampler:
    """Reads the GPUs every `interval` seconds off the caller's thread and hands over `SampleBatch`es.

    `on_batch(batch)` and `on_status(status)` are called from the sampler's thread: hand them to your
    own loop (see `attach_to_loop`). NVML calls run in a second thread; if one does not return within
    `hang_after` seconds, that is reported once and sampling resumes when it returns.
    """

    def __init__(self, on_batch: Callable[[SampleBatch], None], *, interval: float = DEFAULT_INTERVAL,
                 on_status: Callable[[GpuStatus], None] | None = None, job: Job | None = None,
                 devices: Sequence[int] | None = None, hang_after: float | None = None,
                 lib: ModuleType | None = None) -> None:
        if not interval > 0:
            raise ValueError("interval must be > 0")
        self.on_batch = on_batch
        self.on_status = on_status or (lambda s: None)
        self.interval = interval
        self.hang_after = hang_after if hang_after is not None else max(5.0, 5 * interval)
        self.reader = GpuReader(lib, job, devices, processes=False)
        self.state = "starting"  # → "ok" | "no_gpu" | "stopped"
        self.readings = 0
        self._stop = threading.Event()
        self._request = threading.Event()
        self._done = threading.Event()
        self._result: GpuReading | None = None
        self._last_error = ""
        self._driver: threading.Thread | None = None
        self._worker: threading.Thread | None = None

    def start(self) -> GpuSampler:
        self._worker = threading.Thread(target=self._work, name="losswatch-nvml", daemon=True)
        self._driver = threading.Thread(target=self._drive, name="losswatch-gpu", daemon=True)
        self._worker.start()
        self._driver.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop sampling. Never waits on a hung NVML call (its thread is a daemon)."""
        self._stop.set()
        self._request.set()
        self._done.set()
        if self._driver is not None and self._driver is not threading.current_thread():
            self._driver.join(timeout)
        if self.state != "no_gpu":
            self.state = "stopped"

    def _work(self) -> None:
        while True:
            self._request.wait()
            self._request.clear()
            if self._stop.is_set():
                break
            try:
                self._result = self.reader.read()
            except Exception as e:  # a bug must not kill sampling silently, nor repeat itself every second
                msg = f"GPU reading failed: {e!r}"
                notes = [GpuStatus("error", msg)] if msg != self._last_error else []
                self._last_error = msg
                self._result = GpuReading(time.time(), "ok", notes=notes)
            self._done.set()
        self.reader.close()

    def _status(self, status: GpuStatus) -> None:
        try:
            self.on_status(status)
        except Exception:
            pass

    def _drive(self) -> None:
        next_t = time.monotonic()
        while not self._stop.is_set():
            self._done.clear()
            self._request.set()
            hung = False
            while not self._done.wait(self.hang_after if not hung else 1.0):
                if self._stop.is_set():
                    return
                if not hung:
                    hung = True
                    cur = self.reader.nvml.current
                    what = f"{cur[0]} on gpu{cur[1]}" if cur and cur[1] is not None else (cur[0] if cur else "NVML")
                    self._status(GpuStatus("hung", f"{what} has not returned for {self.hang_after:g} s; "
                                           "GPU readings paused, monitoring goes on",
                                           cur[1] if cur else None))
            if self._stop.is_set():
                return
            if hung:
                self._status(GpuStatus("answering", "NVML answers again; GPU readings resume"))
            reading, self._result = self._result, None
            if reading is None:
                continue
            for note in reading.notes:
                self._status(note)
            if reading.state == "no_gpu":
                self.state = "no_gpu"
                self._stop.set()
                self._request.set()
                return
            self.state = "ok"
            batch = reading_to_batch(reading, self.readings)
            self.readings += 1
            if len(batch):
                try:
                    self.on_batch(batch)
                except Exception as e:
                    self._status(GpuStatus("error", f"GPU batch consumer failed: {e!r}"))
            next_t += self.interval
            now = time.monotonic()
            if next_t < now:  # fell behind (slow calls): skip, do not burst
                next_t = now
            self._stop.wait(next_t - now)


# --- glue to the live loop ------------------------------------------------------------------------


def attach_to_loop(loop: Any, monitor: Any, runs: Sequence[Any] | None = None, *, job_pid: int | None = None,
                   interval: float = DEFAULT_INTERVAL, devices: Sequence[int] | None = None,
                   lib: ModuleType | None = None, env: Mapping[str, str] | None = None) -> GpuSampler:
    """Start a sampler whose batches the loop adds to each run (`runs`, else every run of `monitor`).

    `loop.post(fn)` must run `fn` on the loop's thread; status changes become `RunChanged(run, "gpu", …)`
    events. Returns the started sampler; call `.stop()` when the loop ends.
    """
    from losswatch.events import RunChanged

    def targets() -> list[Any]:
        return list(runs) if runs is not None else list(monitor.runs.values())

    def on_batch(batch: SampleBatch) -> None:
        def add() -> None:
            for run in targets():
                monitor.add_samples(run, batch)
        loop.post(add)

    def on_status(status: GpuStatus) -> None:
        def emit() -> None:
            for run in targets():
                monitor.emit(RunChanged(run.name, "gpu", status.as_dict()))
        loop.post(emit)

    job = Job(job_pid, env) if job_pid is not None else None
    return GpuSampler(on_batch, interval=interval, on_status=on_status, job=job, devices=devices, lib=lib).start()


def env_interval(default: float = DEFAULT_INTERVAL) -> float:
    """Sampling interval from LOSSWATCH_GPU_INTERVAL (seconds), else `default`."""
    try:
        v = float(os.environ.get("LOSSWATCH_GPU_INTERVAL", default))
    except ValueError:
        return default
    return v if v > 0 else default
