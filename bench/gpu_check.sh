#!/usr/bin/env bash
# Check the GPU sampler against nvidia-smi on a real GPU machine (cannot run on CI: no GPU there).
#
#   bench/gpu_check.sh            # needs: an NVIDIA driver, nvidia-smi, python3 with torch (CUDA)
#
# Starts a small torch loop that holds ~2 GiB on GPU 0 and keeps it busy, then in the same run prints,
# three times a second apart: `losswatch gpu --json --pid JOB`, `nvidia-smi --query-gpu=...` and
# `nvidia-smi --query-compute-apps=pid,used_memory`, then a side-by-side comparison, 10 s of the live
# sampler (gpu.* and job.gpu_mem series), and the overhead benchmark on the real NVML.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
OUT=${OUT:-$(mktemp -d)}
command -v nvidia-smi >/dev/null || { echo "nvidia-smi not found: run this on a GPU machine" >&2; exit 2; }

ready="$OUT/job.ready"
"$PY" - "$ready" <<'PYEOF' &
import sys, time, torch
assert torch.cuda.is_available(), "torch sees no GPU"
x = torch.empty(512 << 20, dtype=torch.float32, device="cuda")   # 2 GiB held for the whole run
a = torch.randn(4096, 4096, device="cuda")
open(sys.argv[1], "w").write("ready")
t_end = time.time() + 120
while time.time() < t_end:
    for _ in range(50):
        a = torch.tanh(a @ a)          # keeps the GPU busy
    torch.cuda.synchronize()
PYEOF
JOB=$!
trap 'kill $JOB 2>/dev/null || true' EXIT
for _ in $(seq 120); do [ -e "$ready" ] && break; sleep 0.5; done
[ -e "$ready" ] || { echo "the torch job did not start" >&2; exit 1; }
sleep 2
echo "job pid $JOB"

for i in 1 2 3; do
  "$PY" -m losswatch gpu --json --pid "$JOB" > "$OUT/lw$i.json" || true
  nvidia-smi --query-gpu=index,name,uuid,utilization.gpu,utilization.memory,memory.used,memory.total,temperature.gpu,power.draw,power.limit \
    --format=csv,noheader,nounits > "$OUT/smi$i.csv"
  nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits > "$OUT/apps$i.csv"
  echo "=== round $i: losswatch gpu --json --pid $JOB"; cat "$OUT/lw$i.json"
  echo "=== round $i: nvidia-smi --query-gpu (index,name,uuid,util%,memutil%,MiB used,MiB total,C,W,W limit)"; cat "$OUT/smi$i.csv"
  echo "=== round $i: nvidia-smi --query-compute-apps (pid, MiB)"; cat "$OUT/apps$i.csv"
  sleep 1
done
echo "=== slowdown threshold (nvidia-smi -q -d TEMPERATURE)"
nvidia-smi -q -d TEMPERATURE | grep -i -E "slowdown|shutdown|max operating" || true
echo "=== losswatch gpu (table)"
"$PY" -m losswatch gpu --pid "$JOB" || true

echo "=== comparison (losswatch vs nvidia-smi, same rounds)"
"$PY" - "$OUT" "$JOB" <<'PYEOF'
import csv, json, sys
out, job = sys.argv[1], int(sys.argv[2])
fields = [("util", 3), ("mem_util", 4), ("mem_used_mib", 5), ("mem_total_mib", 6), ("temp", 7), ("power_w", 8),
          ("power_limit_w", 9)]
print(f"{'round':>5} {'gpu':>3} {'field':<14} {'losswatch':>12} {'nvidia-smi':>12}")
for i in (1, 2, 3):
    lw = json.load(open(f"{out}/lw{i}.json"))
    smi = {int(r[0]): [c.strip() for c in r] for r in csv.reader(open(f"{out}/smi{i}.csv"))}
    for d in lw.get("devices", []):
        row = smi.get(d["index"])
        for name, col in fields:
            print(f"{i:>5} {d['index']:>3} {name:<14} {str(d[name]):>12} {row[col] if row else '-':>12}")
    apps = {int(r[0]): r[1].strip() for r in csv.reader(open(f"{out}/apps{i}.csv")) if r}
    job_lw = (lw.get("job") or {})
    print(f"{i:>5}     job.gpu_mem    {str(job_lw.get('gpu_mem_mib')):>12} {apps.get(job, '(pid not listed)'):>12}"
          f"   pids: {job_lw.get('pids')}")
PYEOF

echo "=== live sampler, 10 s at 1 Hz"
"$PY" - "$JOB" <<'PYEOF'
import sys, time
from losswatch.gpu import GpuSampler, Job
rows = []
s = GpuSampler(lambda b: rows.append(b), interval=1.0, on_status=lambda st: print("status:", st.kind, st.message),
               job=Job(int(sys.argv[1]))).start()
time.sleep(10.5)
s.stop()
for b in rows:
    v = dict(zip(b.metrics, b.values))
    print(f"t={b.wall_time:.1f} " + " ".join(f"{k}={v[k]:.3g}" for k in sorted(v) if k.startswith(("gpu.", "job."))))
PYEOF

echo "=== overhead on the real NVML"
"$PY" bench/bench_gpu.py --real --seconds 10
echo "(files in $OUT)"
