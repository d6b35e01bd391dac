"""The NVML sampler on a fake `pynvml` (scripted readings; real error classes), and on this machine's
real nvidia-ml-py where there is no driver. Processes, environments and pid namespaces are real."""

from __future__ import annotations

import inspect
import math
import os
import queue
import subprocess
import sys
import threading
import time

import pytest

from losswatch import gpu
from losswatch.gpu import GpuReader, GpuSampler, Job, job_devices, parse_visible, reading_series
from tests.conftest import ROOT, require_tool
from tests.fakenvml import FAKE_FUNCTIONS, Err, FakeDevice, FakeNvml, build_module, real_pynvml


@pytest.fixture
def install(monkeypatch):
    """install(FakeNvml) → puts a fake `pynvml` built over it into sys.modules for this test."""

    def put(fake: FakeNvml):
        mod = build_module(fake)
        monkeypatch.setitem(sys.modules, "pynvml", mod)
        return mod

    return put


def require_pid_namespace() -> None:
    """Skip unless this machine lets us make a real pid namespace (root, and CAP_SYS_ADMIN in a container)."""
    if os.geteuid() != 0:
        pytest.skip("unshare --pid needs root")
    require_tool("unshare")
    p = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot create a pid namespace here: {p.stderr.strip()}")


def two_gpus(**over) -> FakeNvml:
    a = FakeDevice(uuid="GPU-aaaa1111", util=[80, 90, 100], mem_used_mib=[40960, 41000, 41100], temp=[70, 71, 72],
                   slowdown=90, power_w=[300.5, 310, 320])
    b = FakeDevice(uuid="GPU-bbbb2222", util=[20, 30, 40], mem_used_mib=[8192, 8192, 8192], temp=[50, 88, 51],
                   slowdown=91, power_w=[100, 110, 120], total_mib=16384)
    for k, v in over.items():
        setattr(b, k, v)
    return FakeNvml(devices=[a, b])


def wait_for(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


# --- the fake is nvidia-ml-py's shape ---------------------------------------------------------------


def test_fake_has_real_names_signatures_and_errors(install):
    real = real_pynvml()
    fake = install(FakeNvml(devices=[FakeDevice()]))
    for name in FAKE_FUNCTIONS:
        assert hasattr(real, name), name
        assert list(inspect.signature(getattr(fake, name)).parameters) == \
            list(inspect.signature(getattr(real, name)).parameters), name
    assert fake.NVMLError_GpuIsLost is real.NVMLError_GpuIsLost
    fake.nvmlInit()
    h = fake.nvmlDeviceGetHandleByIndex(0)
    assert isinstance(fake.nvmlDeviceGetMemoryInfo(h), real.c_nvmlMemory_t)
    assert isinstance(fake.nvmlDeviceGetUtilizationRates(h), real.c_nvmlUtilization_t)
    with pytest.raises(real.NVMLError) as e:
        fake.nvmlDeviceGetHandleByIndex(3)
    assert e.value.value == real.NVML_ERROR_INVALID_ARGUMENT


# --- no GPU -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("error,words", [("LibraryNotFound", "libnvidia-ml"), ("DriverNotLoaded", "not loaded"),
                                         ("Unknown", "could not start")])
def test_no_driver_is_one_state_said_once(install, error, words):
    install(FakeNvml(init_error=error))
    r = GpuReader()
    first = r.read()
    assert first.state == "no_gpu" and words in first.reason
    assert [n.kind for n in first.notes] == ["no_gpu"]
    again = r.read()
    assert again.state == "no_gpu" and again.notes == []
    assert reading_series(again) == {}


def test_no_device_is_no_gpu(install):
    install(FakeNvml(devices=[]))
    assert "0 devices" in GpuReader().read().reason


def test_real_nvml_without_driver():
    """This machine's real nvidia-ml-py: no driver here means the no-GPU state, not a crash."""
    r = GpuReader(lib=real_pynvml()).read()
    if r.state == "ok":
        pytest.skip("a real GPU is present")
    assert r.state == "no_gpu" and r.reason and [n.kind for n in r.notes] == ["no_gpu"]


# --- series -----------------------------------------------------------------------------------------


def test_series_per_device_and_aggregate(install):
    install(two_gpus())
    reader = GpuReader()
    r0 = reader.read()
    assert [n.kind for n in r0.notes] == ["ready"]
    s = reading_series(r0)
    assert s["gpu0.util"] == 80 and s["gpu1.util"] == 20 and s["gpu.util"] == 50
    assert s["gpu0.mem_used"] == 40960 and s["gpu.mem_used"] == 40960 + 8192
    assert s["gpu0.mem_frac"] == pytest.approx(0.5) and s["gpu1.mem_frac"] == pytest.approx(0.5)
    assert s["gpu.power"] == pytest.approx(400.5) and s["gpu0.power"] == pytest.approx(300.5)
    assert s["gpu.temp"] == 70 and s["gpu.temp_margin"] == 20
    s1 = reading_series(reader.read())
    assert s1["gpu.util"] == 60 and s1["gpu.temp"] == 88 and s1["gpu.temp_margin"] == 3  # gpu1: 91 - 88
    assert "job.gpu_mem" not in s1 and "job.alive" not in s1
    batch = gpu.reading_to_batch(r0, 7)
    assert set(batch.metrics) == set(s) and set(batch.steps) == {7} and batch.wall_time == r0.wall_time


def test_unsupported_field_is_silent_and_not_retried(install):
    fake = two_gpus(power_w=[None])  # NVML_ERROR_NOT_SUPPORTED, as on many consumer boards
    install(fake)
    reader = GpuReader()
    for _ in range(3):
        r = reader.read()
    s = reading_series(r)
    assert "gpu1.power" not in s and s["gpu.power"] == 320  # gpu0 only
    assert fake.devices[1].calls["nvmlDeviceGetPowerUsage"] == 1
    assert [n.kind for n in r.notes] == []


def test_inaccessible_gpu_is_skipped_and_cuda_counts_the_others(install):
    """A GPU this container may not open (NVML: Insufficient Permissions) is said once and skipped;
    CUDA_VISIBLE_DEVICES=1 then means the second GPU CUDA can open, NVML's gpu2."""
    fake = FakeNvml(devices=[FakeDevice(uuid="GPU-a", util=[11]), FakeDevice(uuid="GPU-b", handle_error="NoPermission"),
                             FakeDevice(uuid="GPU-c", util=[33])])
    install(fake)
    r = GpuReader(job=Job(os.getpid(), env={"CUDA_VISIBLE_DEVICES": "1"})).read()
    assert [(n.kind, n.device) for n in r.notes if n.kind == "device_lost"] == [("device_lost", 1)]
    assert "Insufficient Permissions" in r.notes[0].message
    assert [d.index for d in r.devices] == [0, 2] and r.selected == [2]
    assert reading_series(r)["gpu.util"] == 33
    install(FakeNvml(devices=[FakeDevice(handle_error="NoPermission")]))
    none = GpuReader().read()
    assert none.state == "no_gpu" and "no accessible GPU" in none.reason


def test_memory_v2_keeps_reserved_apart_and_v1_is_the_fallback(install):
    fake = FakeNvml(devices=[FakeDevice(mem_used_mib=[1000], reserved_mib=500),
                             FakeDevice(mem_used_mib=[1000], reserved_mib=500, memory_v2=False)])
    install(fake)
    reader = GpuReader()
    for _ in range(2):
        s = reading_series(reader.read())
    assert s["gpu0.mem_used"] == 1000  # as nvidia-smi shows it
    assert s["gpu1.mem_used"] == 1500  # v1 (older drivers): used includes the reserved part
    assert fake.devices[1].calls["nvmlDeviceGetMemoryInfo"] == 2  # v2 tried once, not every time


# --- errors mid-run ---------------------------------------------------------------------------------


def test_gpu_lost_reported_once_others_go_on(install):
    fake = two_gpus(util=[20, Err("GpuIsLost"), 40])
    install(fake)
    reader = GpuReader()
    reader.read()
    r1 = reader.read()
    assert [(n.kind, n.device) for n in r1.notes] == [("device_lost", 1)]
    assert "GPU is lost" in r1.notes[0].message
    calls_after_loss = dict(fake.devices[1].calls)
    for _ in range(3):
        r = reader.read()
        assert r.notes == [] and [d.index for d in r.devices] == [0]
    s = reading_series(r)
    assert not any(k.startswith("gpu1.") for k in s) and s["gpu.util"] == 100
    assert fake.devices[1].calls == calls_after_loss  # a lost device is not asked again


def test_device_not_answering_reported_once_then_recovers(install):
    fake = two_gpus(temp=[50, Err("Timeout"), Err("Timeout"), Err("Unknown"), 60])
    install(fake)
    reader = GpuReader()
    kinds = []
    series = []
    for _ in range(5):
        r = reader.read()
        kinds += [(n.kind, n.device) for n in r.notes if n.kind != "ready"]
        series.append(reading_series(r))
    assert kinds == [("device_error", 1), ("device_ok", 1)]
    assert "gpu1.util" in series[0] and "gpu1.util" in series[4]
    for s in series[1:4]:  # nothing invented for the silent device; the other one is still there
        assert not any(k.startswith("gpu1.") for k in s) and s["gpu0.util"] > 0


# --- the job: processes and visible devices ---------------------------------------------------------


def pid_max() -> int:
    with open("/proc/sys/kernel/pid_max") as f:
        return int(f.read())


@pytest.fixture
def job_tree():
    """A real job: a shell that starts a child; yields (job pid, child pid)."""
    p = subprocess.Popen(["sh", "-c", "sleep 30 & echo $!; wait"], stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "CUDA_VISIBLE_DEVICES": "GPU-bbbb"})
    child = int(p.stdout.readline())
    yield p.pid, child
    p.kill()
    subprocess.run(["kill", str(child)], check=False)
    p.wait()


def test_job_gpu_mem_sums_the_process_tree(install, job_tree):
    job, child = job_tree
    other = os.getpid()  # exists, but is the job's parent, not part of its tree
    fake = two_gpus()
    fake.devices[0].processes = [[(job, 1000), (other, 500)], [(job, 1000), (child, 250.5), (other, 500)]]
    fake.devices[1].processes = [[(child, 100)]]
    install(fake)
    reader = GpuReader(job=Job(job))
    r0 = reader.read()
    # the job's own environment says CUDA_VISIBLE_DEVICES=GPU-bbbb (a UUID prefix): aggregates cover gpu1
    assert r0.selected == [1] and any(n.kind == "job_devices" and "gpu1" in n.message for n in r0.notes)
    s0 = reading_series(r0)
    assert s0["job.gpu_mem"] == 1100 and s0["job.alive"] == 1
    assert s0["gpu.util"] == 20 and s0["gpu0.util"] == 80
    s1 = reading_series(reader.read())
    assert s1["job.gpu_mem"] == pytest.approx(1350.5)


def test_job_exit_is_seen(install):
    p = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    install(two_gpus())
    reader = GpuReader(job=Job(p.pid, env={}))
    assert reading_series(reader.read())["job.alive"] == 1
    p.stdin.close()
    p.wait()
    assert reading_series(reader.read())["job.alive"] == 0


def test_host_pids_that_match_nothing_are_said_not_guessed(install, job_tree):
    job, _ = job_tree
    ghost = pid_max() + 17  # a pid that cannot exist here, as NVML reports from outside a container
    fake = two_gpus()
    fake.devices[0].processes = [[(ghost, 3000)]]
    install(fake)
    reader = GpuReader(job=Job(job, env={}))
    notes, series = [], []
    for _ in range(6):
        r = reader.read()
        notes += [n for n in r.notes if n.kind == "pids_hidden"]
        series.append(reading_series(r))
    assert len(notes) == 1 and "host pids" in notes[0].message
    assert all("job.gpu_mem" not in s for s in series)
    assert r.job.pids == "hidden"


def test_pid_namespace_detection_for_real():
    require_pid_namespace()
    code = "from losswatch.gpu import nested_pid_namespace as n; print(n())"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    here = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    inside = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", code],
                            capture_output=True, text=True, env=env)
    assert inside.stdout.strip() == "True", inside.stderr
    assert here.stdout.strip() in ("True", "False")


@pytest.mark.parametrize("spec,expect", [
    (None, None), ("all", None), ("", []), ("-1", []), ("none", []), ("void", []), ("1", [1]), ("1,0", [1, 0]),
    ("0,7,1", [0]), ("GPU-bbbb", [1]), ("gpu-aaaa1111,1", [0, 1]), ("GPU-", []), ("MIG-1234", None),
    (" 2 , 2 ", [2]),
])
def test_parse_visible(spec, expect):
    assert parse_visible(spec, ["GPU-aaaa1111", "GPU-bbbb2222", "GPU-cccc3333"]) == expect


def test_job_devices_compose_container_and_cuda_lists():
    uuids = ["GPU-a", "GPU-b", "GPU-c", "GPU-d"]
    env = {"NVIDIA_VISIBLE_DEVICES": "2,3", "CUDA_VISIBLE_DEVICES": "1"}
    assert job_devices(env, uuids, nested=False) == [3]  # seen from the host: host indices, then CUDA's
    assert job_devices(env, uuids, nested=True) == [1]  # inside the container NVML already sees only its GPUs
    assert job_devices(None, uuids, nested=False) == [0, 1, 2, 3]
    assert job_devices({"CUDA_VISIBLE_DEVICES": ""}, uuids, nested=False) == []


# --- the sampler thread -----------------------------------------------------------------------------


def test_sampler_delivers_batches_at_its_rate(install):
    install(two_gpus())
    got: queue.Queue = queue.Queue()
    statuses = []
    s = GpuSampler(got.put, interval=0.05, on_status=statuses.append).start()
    batches = [got.get(timeout=5) for _ in range(5)]
    s.stop()
    assert [b.steps[0] for b in batches] == [0, 1, 2, 3, 4]
    times = [b.wall_time for b in batches]
    assert times == sorted(times) and times[-1] - times[0] >= 0.15
    assert [st.kind for st in statuses] == ["ready"]
    assert s.state == "stopped"


def test_sampler_no_gpu_stops_quietly(install):
    install(FakeNvml(init_error="DriverNotLoaded"))
    batches, statuses = [], []
    s = GpuSampler(batches.append, interval=0.01, on_status=statuses.append).start()
    assert wait_for(lambda: s.state == "no_gpu")
    assert wait_for(lambda: not s._driver.is_alive() and not s._worker.is_alive())
    assert batches == [] and [st.kind for st in statuses] == ["no_gpu"]


def test_hung_call_is_reported_and_never_blocks_the_consumer(install):
    release = threading.Event()
    fake = two_gpus()
    install(fake)
    got: queue.Queue = queue.Queue()
    statuses: queue.Queue = queue.Queue()
    s = GpuSampler(got.put, interval=0.02, hang_after=0.2, on_status=statuses.put).start()
    got.get(timeout=5)
    fake.devices[1].hang["nvmlDeviceGetUtilizationRates"] = release  # the driver stops answering
    kinds = []
    while "hung" not in kinds:
        st = statuses.get(timeout=5)
        kinds.append(st.kind)
    assert "nvmlDeviceGetUtilizationRates on gpu1" in st.message and st.device == 1
    # the consumer's side is free meanwhile: no batch arrives, and waiting for one returns on time
    while not got.empty():
        got.get_nowait()
    t0 = time.monotonic()
    with pytest.raises(queue.Empty):
        got.get(timeout=0.1)
    assert time.monotonic() - t0 < 1.0
    del fake.devices[1].hang["nvmlDeviceGetUtilizationRates"]
    release.set()
    assert statuses.get(timeout=5).kind == "answering"
    b = got.get(timeout=5)
    assert "gpu1.util" in b.metrics
    s.stop()


def test_stop_does_not_wait_for_a_hung_call(install):
    release = threading.Event()
    fake = two_gpus()
    fake.devices[0].hang["nvmlDeviceGetMemoryInfo"] = release
    install(fake)
    s = GpuSampler(lambda b: None, interval=0.02).start()
    assert wait_for(lambda: fake.devices[0].calls.get("nvmlDeviceGetMemoryInfo", 0) >= 1)
    t0 = time.monotonic()
    s.stop(timeout=2.0)
    assert time.monotonic() - t0 < 1.0 and not s._driver.is_alive()
    release.set()


def test_nan_is_never_produced_from_missing_fields(install):
    fake = FakeNvml(devices=[FakeDevice(util=[None], mem_used_mib=[None], temp=[None], power_w=[None],
                                        slowdown=None, limit_w=None)])
    install(fake)
    r = GpuReader().read()
    assert r.state == "ok" and reading_series(r) == {}
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in vars(r.devices[0]).values())


# --- any error, anywhere -----------------------------------------------------------------------------

ERRORS = ["GpuIsLost", "Timeout", "Unknown", "NotSupported", "NoPermission", "IrqIssue", "ResetRequired",
          "Uninitialized", "InsufficientPower", "LibRmVersionMismatch", "Memory", "CorruptedInforom"]


def test_random_errors_never_raise_and_are_said_once_per_change(install):
    """Scripted failures of every kind in every function: the reader never raises, never invents a value,
    and says each device's change once (lost; not answering → answering again)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    entry = st.one_of(st.integers(0, 100), st.sampled_from([Err(e) for e in ERRORS]))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(st.lists(entry, min_size=1, max_size=8), st.lists(entry, min_size=1, max_size=8),
                              st.lists(entry, min_size=1, max_size=8)), min_size=1, max_size=3))
    def check(scripts):
        devices = [FakeDevice(uuid=f"GPU-{i}", util=u, temp=t, power_w=p) for i, (u, t, p) in enumerate(scripts)]
        install(FakeNvml(devices=devices))
        reader = GpuReader()
        state = {i: "ok" for i in range(len(devices))}
        for _ in range(10):
            r = reader.read()
            for n in r.notes:
                if n.device is None:
                    continue
                before = state[n.device]
                assert before != "lost", "a lost device said something again"
                now = {"device_lost": "lost", "device_error": "failing", "device_ok": "ok"}[n.kind]
                assert now != before, f"said twice: {n}"
                state[n.device] = now
            series = reading_series(r)
            assert all(isinstance(v, float) and math.isfinite(v) for v in series.values())
            for d in r.devices:
                assert state[d.index] != "lost"
                if d.util is not None:
                    assert 0 <= d.util <= 100

    check()
