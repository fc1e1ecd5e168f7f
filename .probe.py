import sys, time
sys.path.insert(0, "tests/vm/pageidle")
import guestkit
from damontui.model import Target, TargetKind
import damontui.backends.engine.batch as batch
tot = {"c": 0.0, "n": 0, "regions": 0, "py": 0.0}
orig = batch.run
keep = {}
last = [None]
def timed(*a, **k):
    t = time.thread_time()
    if last[0] is not None: tot["py"] += t - last[0]
    r = orig(*a, **k); tot["c"] += time.thread_time() - t; tot["n"] += 1
    last[0] = time.thread_time()
    if a[1]:
        tot["regions"] += len(a[1][0].regions); keep["s"] = a[1][0].sampler
    return r
batch.run = timed
args = sys.argv[2:] or ["--thp", "off"]
with guestkit.workload(*args) as w:
    run = guestkit.run_engine([Target(TargetKind.PID, pid=w.pid)], sys.argv[1], 10)
    print([round(x) for x in run.area_percents(w.areas)])
print(f"elapsed {run.elapsed_s} wall {run.wall_s:.2f} cpu {run.cpu_s} errors {run.errors}")
print(f"C {tot['c']:.2f}s py(between) {tot['py']:.2f}s batches {tot['n']} mean regions {tot['regions']/max(1,tot['n']):.1f}")
print(keep["s"].counters())
