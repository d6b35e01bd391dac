"""`losswatch gpu [--json] [--pid PID]`: one reading of the GPUs as a table (or one JSON object).

Handy over SSH, and a check of the sampler: the numbers are the same reading the live sampler turns
into the `gpu.*` series (printed under "series" in the JSON). Exit 0 when GPUs were read, 1 when the
machine has no usable GPU (the reason is printed), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psutil

from losswatch.errors import UsageError
from losswatch.gpu import GpuReader, GpuReading, Job, reading_series
from losswatch.headless import iso
from losswatch.model import json_number


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("gpu", help="show the GPUs once: utilisation, memory, temperature, power, processes")
    p.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    p.add_argument("--pid", type=int, metavar="PID",
                   help="a job: show its GPU memory (job.gpu_mem) and the GPUs its CUDA_VISIBLE_DEVICES allows")
    p.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                   help="give up when the driver does not answer within this time (default 10)")
    return p


def _num(x: float | None, nd: int = 1) -> Any:
    return None if x is None else json_number(round(x, nd))


def _proc_name(pid: int, limit: int = 1000) -> str | None:
    """The command line of a local pid; None where the pid is not visible here (another pid namespace)."""
    try:
        p = psutil.Process(pid)
        cmd = p.cmdline()
        return " ".join(cmd)[:limit] if cmd else p.name()
    except psutil.Error:
        return None


def reading_json(r: GpuReading) -> dict[str, Any]:
    out: dict[str, Any] = {"state": r.state, "time": iso(r.wall_time)}
    if r.state != "ok":
        out["reason"] = r.reason
        return out
    out["driver"] = r.driver
    devices = []
    for d in r.devices:
        dj: dict[str, Any] = {
            "index": d.index, "name": d.name, "uuid": d.uuid, "util": _num(d.util), "mem_util": _num(d.mem_util),
            "mem_used_mib": _num(d.mem_used_mib), "mem_total_mib": _num(d.mem_total_mib),
            "mem_frac": _num(d.mem_frac, 4), "temp": _num(d.temp), "temp_slowdown": _num(d.temp_slowdown),
            "power_w": _num(d.power_w), "power_limit_w": _num(d.power_limit_w), "error": d.error,
            "processes": None if d.processes is None else [
                {"pid": p.pid, "used_mib": _num(p.used_mib), "name": _proc_name(p.pid)} for p in d.processes],
        }
        devices.append(dj)
    out["devices"] = devices
    out["selected"] = r.selected
    if r.job is not None:
        j = r.job
        out["job"] = {"pid": j.pid, "alive": j.alive, "devices": j.devices, "pids": j.pids,
                      "gpu_mem_mib": _num(j.gpu_mem_mib), "processes": [p.pid for p in j.processes]}
    out["series"] = {k: _num(v, 4) for k, v in reading_series(r).items()}
    out["notes"] = [n.as_dict() for n in r.notes if n.kind not in ("ready",)]
    return out


def _cell(x: float | None, fmt: str, unit: str = "") -> str:
    return "n/a" if x is None else format(x, fmt) + unit


def table(r: GpuReading) -> str:
    if r.state != "ok":
        return f"no GPU: {r.reason}"
    lines = [f"driver {r.driver or '?'}",
             f"{'GPU':<4}{'NAME':<26}{'UTIL':>6}{'MEMORY (MiB)':>22}{'MEM%':>6}{'TEMP':>12}{'POWER (W)':>14}"]
    for d in r.devices:
        if d.error is not None:
            lines.append(f"{d.index:<4}{d.name[:25]:<26}  not answering: {d.error}")
            continue
        mem = "n/a" if d.mem_used_mib is None else f"{d.mem_used_mib:.0f} / {d.mem_total_mib:.0f}"
        temp = _cell(d.temp, ".0f", "C") + ("" if d.temp_slowdown is None else f" ({d.temp_slowdown:.0f})")
        power = _cell(d.power_w, ".0f") + ("" if d.power_limit_w is None else f" / {d.power_limit_w:.0f}")
        frac = d.mem_frac
        lines.append(f"{d.index:<4}{d.name[:25]:<26}{_cell(d.util, '.0f', '%'):>6}{mem:>22}"
                     f"{_cell(None if frac is None else 100 * frac, '.0f', '%'):>6}{temp:>12}{power:>14}")
        for p in d.processes or []:
            used = "n/a" if p.used_mib is None else f"{p.used_mib:.0f} MiB"
            name = _proc_name(p.pid, 60) or "(not visible here)"
            lines.append(f"      pid {p.pid:<8} {used:>10}  {name}")
    if r.job is not None:
        j = r.job
        on = ", ".join(f"gpu{i}" for i in j.devices) or "no GPU"
        if j.pids == "visible":
            mem = f"{j.gpu_mem_mib:.0f} MiB" if j.gpu_mem_mib is not None else "n/a (NVML gives no per-process memory)"
        else:
            mem = "unknown (NVML's pids cannot be matched here: container?)"
        lines.append(f"job pid {j.pid} ({'running' if j.alive else 'not running'}) on {on}: GPU memory {mem}")
    lines += [f"note: {n.message}" for n in r.notes if n.kind not in ("ready",)]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    job = None
    if args.pid is not None:
        if not psutil.pid_exists(args.pid):
            raise UsageError(f"no process with pid {args.pid}")
        job = Job(args.pid)
    reader = GpuReader(job=job)
    got: list[GpuReading] = []
    # a driver that hangs must not hang the command: read in a daemon thread, give up after --timeout
    worker = threading.Thread(target=lambda: got.append(reader.read()), name="losswatch-nvml", daemon=True)
    worker.start()
    worker.join(args.timeout)
    if not got:
        cur = reader.nvml.current
        what = f"{cur[0]}" + (f" on gpu{cur[1]}" if cur[1] is not None else "") if cur else "NVML"
        print(f"losswatch: {what} did not return within {args.timeout:g} s (the NVIDIA driver is not answering)",
              file=sys.stderr)
        return 1
    reading = got[0]
    reader.close()
    if args.json:
        sys.stdout.write(json.dumps(reading_json(reading)) + "\n")
    else:
        print(table(reading))
    return 0 if reading.state == "ok" else 1


# --- for the live commands (tail, run): sample the GPUs next to the logs ------------------------------


def add_gpu_sampling_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-gpu", action="store_true",
                   help="do not sample the GPUs (default: NVML once a second, LOSSWATCH_GPU_INTERVAL)")


@contextmanager
def gpu_sampling(loop: Any, monitor: Any, args: argparse.Namespace, runs: Any = None,
                 job_pid: int | None = None, env: Any = None) -> Iterator[Any]:
    """The GPU sampler feeding the loop's runs while the block runs (nothing with --no-gpu).

    The job is `job_pid` (e.g. the child of `losswatch run`, with its `env`) or `--pid`.
    """
    if getattr(args, "no_gpu", False):
        yield None
        return
    from losswatch.gpu import attach_to_loop, env_interval

    pid = job_pid if job_pid is not None else getattr(args, "pid", None)
    sampler = attach_to_loop(loop, monitor, runs, job_pid=pid, interval=env_interval(), env=env)
    try:
        yield sampler
    finally:
        sampler.stop()
