#!/usr/bin/env python3
"""onnxruntime on the same models, sizes and thread counts as `easel bench`.

onnxruntime is the standard CPU runtime and our speed bar: this prints the
same columns as `easel bench` (load, median and p99 latency, images/s, peak
RSS) so tract's numbers can sit beside it. Each (model, threads) runs in a
fresh child process, as in `easel bench`, so peak RSS is that model's own
(it includes the Python interpreter, numpy and onnxruntime, ~50-70 MB).

    pip install onnxruntime numpy
    python3 bench/ort_bench.py tests/fixtures/models/dcgan-64 models/style-256 --threads 1,2
    python3 bench/ort_bench.py models/* --json > ort.json
    python3 bench/ort_bench.py --compare easel.json ort.json [plain.json]   # side by side

Sessions use the CPU execution provider, intra_op_num_threads = the thread
count, inter_op_num_threads = 1, default graph optimizations (what a user
gets). Latency is `session.run` alone; easel's includes converting the
output to pixels, which is small (well under 1% on these models).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tomllib


def manifest(model_dir):
    with open(os.path.join(model_dir, "easel.toml"), "rb") as f:
        return tomllib.load(f)


def cppn_coords(w, h, scale):
    """The grid easel feeds a CPPN (numpy is imported lazily in this script)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
    from easel_reference import cppn_coords as reference

    return reference(w, h, scale)


def feeds_for(m, size):
    """Inputs of the model's shape; values do not change the speed."""
    import numpy as np

    rng = np.random.default_rng(1)
    shape = m["input"]["shape"]
    if m["kind"] == "image":
        _, _, h, w = shape
        lo, hi = m["input"]["range"]
        pixels = rng.integers(0, 256, size=shape).astype(np.float32)
        return {m["input"]["name"]: (lo + pixels / 255.0 * (hi - lo)).astype(np.float32)}, (w, h)
    feeds = {m["input"]["name"]: rng.standard_normal(shape).astype(np.float32)}
    if m["kind"] == "cppn":
        w, h = size or tuple(m["cppn"]["size"])
        feeds[m["cppn"]["coords"]] = cppn_coords(w, h, m["cppn"].get("scale", 1.0))
        return feeds, (w, h)
    return feeds, None


def peak_rss_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def measure(model_dir, threads, runs, warmup, size):
    import onnxruntime as ort

    m = manifest(model_dir)
    feeds, wh = feeds_for(m, size)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    started = time.perf_counter()
    sess = ort.InferenceSession(os.path.join(model_dir, m["file"]), options, providers=["CPUExecutionProvider"])
    outputs = [m["output"]["name"]]
    (y,) = sess.run(outputs, feeds)
    load_ms = (time.perf_counter() - started) * 1e3
    if wh is None:
        wh = (y.shape[3], y.shape[2]) if m["output"].get("layout", "nchw") == "nchw" else (y.shape[2], y.shape[1])
    for _ in range(warmup):
        sess.run(outputs, feeds)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(outputs, feeds)
        times.append((time.perf_counter() - t) * 1e3)
    ordered = sorted(times)
    rank = max(1, min(len(ordered), -(-99 * len(ordered) // 100)))  # nearest rank, ceil
    mean = sum(times) / len(times)
    return {
        "model": m["name"],
        "kind": m["kind"],
        "width": int(wh[0]),
        "height": int(wh[1]),
        "threads": threads,
        "load_ms": load_ms,
        "runs": runs,
        "median_ms": statistics.median(times),
        "p99_ms": ordered[rank - 1],
        "mean_ms": mean,
        "images_per_s": 1e3 / mean,
        "peak_rss_mb": peak_rss_mb(),
        "runtime": f"onnxruntime {ort.__version__}",
    }


HEADER = f"{'model':<16} {'size':>9} {'threads':>7} {'load ms':>10} {'median ms':>10} {'p99 ms':>10} {'images/s':>9} {'peak MB':>9}"


def row(r):
    rss = "-" if r.get("peak_rss_mb") is None else f"{r['peak_rss_mb']:.0f}"
    size = f"{r['width']}x{r['height']}"
    return (
        f"{r['model']:<16} {size:>9} {r['threads']:>7} {r['load_ms']:>10.1f} {r['median_ms']:>10.2f} "
        f"{r['p99_ms']:>10.2f} {r['images_per_s']:>9.1f} {rss:>9}"
    )


def compare(easel_file, ort_file, plain_file=None):
    """A markdown table per model and thread count: easel on tract, easel on
    onnxruntime (rows of `easel bench --engine tract,onnxruntime`; rows
    without an engine are tract's) and onnxruntime used alone; with
    `plain_file`, also easel on tract without its fast paths
    (`EASEL_TRACT_FUSE=0`)."""
    with open(easel_file) as f:
        easel = {(r["model"], r["threads"], r.get("engine") or "tract"): r for r in json.load(f)}
    with open(ort_file) as f:
        ort_rows = {(r["model"], r["threads"]): r for r in json.load(f)}
    plain = {}
    if plain_file:
        with open(plain_file) as f:
            plain = {(r["model"], r["threads"]): r for r in json.load(f)}
    print("| model | size | threads | easel tract ms | tract without fast paths ms | easel onnxruntime ms "
          "| ORT alone ms | tract/ORT | tract without/ORT | easel-ORT/ORT | p99 ms (tract, easel-ORT, ORT) "
          "| load ms (tract, easel-ORT, ORT) | peak MB (tract, easel-ORT, ORT) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    num = lambda v, fmt: "-" if v is None else format(v, fmt)
    for model, threads in dict.fromkeys((m, t) for (m, t, _) in easel):
        o = ort_rows.get((model, threads))
        if o is None:
            continue
        t = easel.get((model, threads, "tract"))
        e = easel.get((model, threads, "onnxruntime"))
        n = plain.get((model, threads))
        for r in (t, e):
            if r is not None and (r["width"], r["height"]) != (o["width"], o["height"]):
                sys.exit(f"{model}: sizes differ ({r['width']}x{r['height']} vs {o['width']}x{o['height']})")
        get = lambda r, k: None if r is None else r[k]
        ratio = lambda r: "-" if r is None else f"{r['median_ms'] / o['median_ms']:.2f}x"
        triple = lambda k, fmt: ", ".join(num(get(r, k), fmt) for r in (t, e, o))
        print(f"| {model} | {o['width']}x{o['height']} | {threads} | {num(get(t, 'median_ms'), '.2f')} | "
              f"{num(get(n, 'median_ms'), '.2f')} | {num(get(e, 'median_ms'), '.2f')} | {o['median_ms']:.2f} | "
              f"{ratio(t)} | {ratio(n)} | {ratio(e)} | "
              f"{triple('p99_ms', '.2f')} | {triple('load_ms', '.0f')} | {triple('peak_rss_mb', '.0f')} |")


def parse_size(text):
    w, h = text.lower().split("x")
    return int(w), int(h)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="*", help="model package folders")
    p.add_argument("--threads", default="1,2", help="intra-op thread counts, comma separated")
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--size", type=parse_size, help="WxH for cppn models (default: the manifest's)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--compare", nargs="+", metavar="JSON",
                   help="EASEL_JSON ORT_JSON [PLAIN_JSON]: easel bench, this script, and easel bench "
                        "with EASEL_TRACT_FUSE=0, side by side")
    p.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.compare:
        return compare(*a.compare)
    if not a.models:
        p.error("give at least one model package folder")
    threads = [int(t) for t in a.threads.split(",")]
    if a.measure:
        print(json.dumps(measure(a.models[0], threads[0], a.runs, a.warmup, a.size)))
        return
    if not a.json:
        import onnxruntime as ort

        print(f"onnxruntime {ort.__version__}, {platform.system().lower()} {platform.machine()}, "
              f"{os.cpu_count()} cores; latency = session.run, {a.runs} runs after {a.warmup} warm-up")
        print(HEADER)
    results = []
    for model_dir in a.models:
        for t in threads:
            cmd = [sys.executable, os.path.abspath(__file__), "--measure", "--threads", str(t),
                   "--runs", str(a.runs), "--warmup", str(a.warmup), model_dir]
            if a.size:
                cmd += ["--size", f"{a.size[0]}x{a.size[1]}"]
            out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results.append(r)
            if a.json:
                print(f"  {r['model']} at {t} threads: {r['median_ms']:.2f} ms", file=sys.stderr, flush=True)
            else:
                print(row(r), flush=True)
    if a.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
