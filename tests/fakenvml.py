"""A fake `pynvml` module with scripted readings: the only fake in the test suite (no GPU on CI).

Faked at the lowest level: the module has the real nvidia-ml-py function names and signatures, returns
the real ctypes structures (`c_nvmlMemory_t`, `c_nvmlUtilization_t`) and friendly process objects, and
raises the real error classes (`NVMLError_GpuIsLost`, ...) with their real codes, copied from the
installed nvidia-ml-py. Only the C library behind it is replaced by scripts.

A reading script is a list indexed by how many times that function was called for that device; past
its end the last entry repeats. An entry `Err("GpuIsLost")` raises that NVML error instead. A
`threading.Event` in `FakeDevice.hang` makes that function block until the event is set (a call that
hangs in the driver).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import sys
import threading
import types
from dataclasses import dataclass, field
from typing import Any

MiB = 1 << 20


def real_pynvml(skip: str | None = None) -> types.ModuleType:
    """The installed nvidia-ml-py module, even when a fake `pynvml` shadows it on sys.path."""
    mod = sys.modules.get("_real_pynvml")
    if mod is not None:
        return mod
    path = [p for p in sys.path if p != skip]
    spec = importlib.machinery.PathFinder.find_spec("pynvml", path)
    if spec is None or spec.loader is None:
        raise ImportError("nvidia-ml-py is not installed")
    mod = importlib.util.module_from_spec(spec)
    # nvidia-ml-py looks itself up as sys.modules["pynvml"] while it loads: lend it the name meanwhile
    shadow = sys.modules.get("pynvml")
    sys.modules["pynvml"] = mod
    try:
        spec.loader.exec_module(mod)
    finally:
        if shadow is None:
            del sys.modules["pynvml"]
        else:
            sys.modules["pynvml"] = shadow
    sys.modules["_real_pynvml"] = mod
    return mod


@dataclass(frozen=True)
class Err:
    """A scripted NVML failure: the class name suffix, e.g. "GpuIsLost" for NVMLError_GpuIsLost."""

    name: str


@dataclass
class FakeDevice:
    name: str = "NVIDIA A100-SXM4-80GB"
    uuid: str = "GPU-00000000-1111-2222-3333-444444444444"
    total_mib: float = 81920
    reserved_mib: float = 0
    memory_v2: bool = True
    util: list = field(default_factory=lambda: [0])
    mem_util: list = field(default_factory=lambda: [0])
    mem_used_mib: list = field(default_factory=lambda: [0])
    temp: list = field(default_factory=lambda: [40])
    slowdown: Any = 90
    power_w: list = field(default_factory=lambda: [60.0])
    limit_w: Any = 400.0
    # one list of (pid, used MiB or None) per reading
    processes: list = field(default_factory=lambda: [[]])
    handle_error: str | None = None  # nvmlDeviceGetHandleByIndex fails (e.g. "NoPermission")
    hang: dict[str, threading.Event] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)


@dataclass
class FakeNvml:
    devices: list[FakeDevice] = field(default_factory=list)
    init_error: str | None = None
    driver: str = "550.54.15"
    calls: list[str] = field(default_factory=list)
    initialized: bool = False


class _Handle:
    """Opaque like the real c_nvmlDevice_t pointer."""

    def __init__(self, index: int) -> None:
        self._index = index


def build_module(fake: FakeNvml, real: types.ModuleType | None = None) -> types.ModuleType:
    """A module object named `pynvml` that behaves like nvidia-ml-py over `fake`."""
    real = real or real_pynvml()
    mod = types.ModuleType("pynvml")
    mod.__dict__["FAKE"] = fake
    for name in dir(real):
        if name.startswith(("NVML_", "NVMLError", "c_nvml", "nvmlFriendlyObject")) or name in (
            "NVMLLibraryMismatchError", "nvmlStructToFriendlyObject", "nvmlExceptionClass", "nvmlMemory_v2",
        ):
            setattr(mod, name, getattr(real, name))

    def fail(err: Err | str) -> None:
        name = err.name if isinstance(err, Err) else err
        raise getattr(real, "NVMLError_" + name)()

    def check_init() -> None:
        if not fake.initialized:
            raise real.NVMLError(real.NVML_ERROR_UNINITIALIZED)

    def device(handle: Any) -> FakeDevice:
        check_init()
        if not isinstance(handle, _Handle):
            raise real.NVMLError(real.NVML_ERROR_INVALID_ARGUMENT)
        return fake.devices[handle._index]

    def reading(handle: Any, fn: str, script: Any) -> Any:
        dev = device(handle)
        fake.calls.append(fn)
        n = dev.calls.get(fn, 0)
        dev.calls[fn] = n + 1
        ev = dev.hang.get(fn)
        if ev is not None:
            ev.wait()
        value = script[min(n, len(script) - 1)] if isinstance(script, list) else script
        if isinstance(value, Err):
            fail(value)
        if value is None:
            raise real.NVMLError(real.NVML_ERROR_NOT_SUPPORTED)
        return value

    def nvmlInit():
        fake.calls.append("nvmlInit")
        if fake.init_error:
            fail(fake.init_error)
        fake.initialized = True

    def nvmlShutdown():
        check_init()
        fake.initialized = False

    def nvmlSystemGetDriverVersion():
        check_init()
        return fake.driver

    def nvmlDeviceGetCount():
        check_init()
        return len(fake.devices)

    def nvmlDeviceGetHandleByIndex(index):
        check_init()
        if not 0 <= index < len(fake.devices):
            raise real.NVMLError(real.NVML_ERROR_INVALID_ARGUMENT)
        if fake.devices[index].handle_error:
            fail(fake.devices[index].handle_error)
        return _Handle(index)

    def nvmlDeviceGetName(handle):
        return device(handle).name

    def nvmlDeviceGetUUID(handle):
        return device(handle).uuid

    def nvmlDeviceGetUtilizationRates(handle):
        dev = device(handle)
        gpu = reading(handle, "nvmlDeviceGetUtilizationRates", dev.util)
        mem = dev.mem_util[min(dev.calls["nvmlDeviceGetUtilizationRates"] - 1, len(dev.mem_util) - 1)]
        return real.c_nvmlUtilization_t(gpu=int(gpu), memory=int(mem))

    def nvmlDeviceGetMemoryInfo(handle, version=None):
        dev = device(handle)
        if version and not dev.memory_v2:  # a driver without nvmlDeviceGetMemoryInfo_v2
            raise real.NVMLError(real.NVML_ERROR_FUNCTION_NOT_FOUND)
        used = int(reading(handle, "nvmlDeviceGetMemoryInfo", dev.mem_used_mib) * MiB)
        total = int(dev.total_mib * MiB)
        reserved = int(dev.reserved_mib * MiB)
        if version:  # v2 counts the driver's reserved memory apart from "used"
            return real.c_nvmlMemory_v2_t(version=version, total=total, reserved=reserved,
                                          free=total - used - reserved, used=used)
        return real.c_nvmlMemory_t(total=total, free=total - used - reserved, used=used + reserved)

    def nvmlDeviceGetTemperature(handle, sensor):
        if sensor != real.NVML_TEMPERATURE_GPU:
            raise real.NVMLError(real.NVML_ERROR_INVALID_ARGUMENT)
        return int(reading(handle, "nvmlDeviceGetTemperature", device(handle).temp))

    def nvmlDeviceGetTemperatureThreshold(handle, threshold):
        if threshold != real.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN:
            raise real.NVMLError(real.NVML_ERROR_NOT_SUPPORTED)
        return int(reading(handle, "nvmlDeviceGetTemperatureThreshold", device(handle).slowdown))

    def nvmlDeviceGetPowerUsage(handle):
        return int(reading(handle, "nvmlDeviceGetPowerUsage", device(handle).power_w) * 1000)

    def nvmlDeviceGetEnforcedPowerLimit(handle):
        return int(reading(handle, "nvmlDeviceGetEnforcedPowerLimit", device(handle).limit_w) * 1000)

    def nvmlDeviceGetComputeRunningProcesses(handle):
        procs = reading(handle, "nvmlDeviceGetComputeRunningProcesses", device(handle).processes)
        out = []
        for pid, used in procs:
            st = real.c_nvmlProcessInfo_v2_t(pid=pid, usedGpuMemory=0 if used is None else int(used * MiB))
            obj = real.nvmlStructToFriendlyObject(st)
            if used is None:  # what nvidia-ml-py does for NVML_VALUE_NOT_AVAILABLE (WDDM, MIG)
                obj.usedGpuMemory = None
            out.append(obj)
        return out

    for fn in (nvmlInit, nvmlShutdown, nvmlSystemGetDriverVersion, nvmlDeviceGetCount,
               nvmlDeviceGetHandleByIndex, nvmlDeviceGetName, nvmlDeviceGetUUID, nvmlDeviceGetUtilizationRates,
               nvmlDeviceGetMemoryInfo, nvmlDeviceGetTemperature, nvmlDeviceGetTemperatureThreshold,
               nvmlDeviceGetPowerUsage, nvmlDeviceGetEnforcedPowerLimit, nvmlDeviceGetComputeRunningProcesses):
        setattr(mod, fn.__name__, fn)
    return mod


FAKE_FUNCTIONS = (
    "nvmlInit", "nvmlShutdown", "nvmlSystemGetDriverVersion", "nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex",
    "nvmlDeviceGetName", "nvmlDeviceGetUUID", "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetMemoryInfo",
    "nvmlDeviceGetTemperature", "nvmlDeviceGetTemperatureThreshold", "nvmlDeviceGetPowerUsage",
    "nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetComputeRunningProcesses",
)


def _script(v: Any) -> Any:
    """JSON → script: {"error": "GpuIsLost"} entries become Err."""
    if isinstance(v, list):
        return [_script(x) for x in v]
    if isinstance(v, dict) and "error" in v:
        return Err(v["error"])
    return v


def from_json(text: str) -> FakeNvml:
    """A scenario from JSON (for `losswatch` run as a subprocess with the fake on PYTHONPATH)."""
    data = json.loads(text)
    devices = []
    for d in data.get("devices", []):
        kw = {k: _script(v) for k, v in d.items()}
        if "hang" in kw:  # names of functions that never return
            kw["hang"] = {fn: threading.Event() for fn in d["hang"]}
        if "processes" in kw:
            kw["processes"] = [p if isinstance(p, Err) else [tuple(x) for x in p] for p in kw["processes"]]
        devices.append(FakeDevice(**kw))
    return FakeNvml(devices=devices, init_error=data.get("init_error"), driver=data.get("driver", "550.54.15"))
