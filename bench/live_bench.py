#!/usr/bin/env python3
"""Live mode end to end: frames per second and capture-to-display latency of
the real `easeld` painting the test pattern with an `image` model, beside
onnxruntime's raw inference on the same model and thread count.

For each image model and thread count it starts the release `easeld` on
free ports with `source = "test://pattern"` (640x480, 30 frames/s: a
camera's work without a camera), turns on live mode at `fps = 0` (as fast
as the engine goes) through the admin endpoint, lets it warm up, then
measures for `--seconds`:

- fps: `easel_frames_total` (frames published for the page) over the window;
- latency: from the moment the source made the frame to the moment the
  painted frame is published, as the daemon's own `live frames` log line
  reports it every 10 s (median of the interval medians, and the worst p90).

onnxruntime runs the same ONNX file with `bench/ort_bench.py`'s settings
(intra-op threads = the thread count). Its number is inference alone; the
daemon's frame time also holds the fit, the conversions and the wait for
the newest source frame.

    python3 bench/live_bench.py --easeld target/release/easeld models/style-256 /tmp/m/style-512
    THREADS=1,2 SECONDS=60 bench/run.sh models/style-256     # run.sh calls this for image models

Other processes on the machine change these numbers: run it on an idle one.
"""

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request

TOKEN = "live-bench"
SUMMARY = re.compile(r"live frames.*?fps=\"?([0-9.]+)\"?.*?latency_p50_ms=(\d+).*?latency_p90_ms=(\d+)")


def manifest(model_dir):
    with open(os.path.join(model_dir, "easel.toml"), "rb") as f:
        return tomllib.load(f)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(addr, path, body=None):
    req = urllib.request.Request(f"http://{addr}{path}", data=body)
    if body is not None:
        req.add_header("Authorization", f"Bearer {TOKEN}")
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def frames_total(addr):
    for line in http(addr, "/metrics").decode().splitlines():
        if line.startswith("easel_frames_total "):
            return float(line.split()[1])
    raise RuntimeError("no easel_frames_total in /metrics")


def run_daemon(easeld, model_dir, threads, warmup_s, seconds):
    name = manifest(model_dir)["name"]
    with tempfile.TemporaryDirectory() as tmp:
        models = os.path.join(tmp, "models")
        os.makedirs(models)
        os.symlink(os.path.abspath(model_dir), os.path.join(models, name))
        config = os.path.join(tmp, "easel.toml")
        with open(config, "w") as f:
            f.write(
                f'node = "bench"\nmodels_dir = {json.dumps(models)}\ndata_dir = {json.dumps(os.path.join(tmp, "data"))}\n'
                f'default_model = "{name}"\nthreads = {threads}\nsource = "test://pattern"\n'
                f'[camera]\nwidth = 640\nheight = 480\nfps = 30\n'
                f'[mqtt]\nembedded_listen = "127.0.0.1:{free_port()}"\n'
                f'[http]\nlisten = "127.0.0.1:0"\nadmin_token = "{TOKEN}"\n'
            )
        log_path = os.path.join(tmp, "easeld.log")
        env = dict(os.environ, RUST_LOG="info,tract=warn", NO_COLOR="1")
        with open(log_path, "w") as log:
            child = subprocess.Popen([easeld, "--config", config], stdout=subprocess.DEVNULL, stderr=log, env=env)
        try:
            addr = None
            deadline = time.time() + 300
            while time.time() < deadline:
                text = open(log_path).read()
                m = re.search(r"listening http://([0-9.:]+)/", text)
                if m:
                    addr = m.group(1)
                    try:
                        if json.loads(http(addr, "/api/state"))["model"] == name:
                            break
                    except OSError:
                        pass
                if child.poll() is not None:
                    raise RuntimeError(f"easeld exited:\n{text}")
                time.sleep(0.2)
            else:
                raise RuntimeError("easeld did not load the model in 300 s")
            http(addr, "/admin/cmd/mode", json.dumps({"mode": "live", "fps": 0}).encode())
            time.sleep(warmup_s)
            log_start = len(open(log_path).read())
            f0, t0 = frames_total(addr), time.perf_counter()
            time.sleep(seconds)
            f1, t1 = frames_total(addr), time.perf_counter()
            summaries = [tuple(map(float, m.groups())) for m in SUMMARY.finditer(open(log_path).read()[log_start:])]
        finally:
            child.terminate()
            child.wait(timeout=60)
    if not summaries:
        raise RuntimeError(f"no `live frames` summary in {seconds} s; measure longer")
    return {
        "model": name,
        "threads": threads,
        "frames": f1 - f0,
        "fps": (f1 - f0) / (t1 - t0),
        "latency_p50_ms": statistics.median(s[1] for s in summaries),
        "latency_p90_ms": max(s[2] for s in summaries),
    }


def ort_raw(model_dir, threads, runs):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from ort_bench import measure

    return measure(model_dir, threads, runs, 2, None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--easeld", required=True)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=8.0, help="seconds of live mode before measuring")
    ap.add_argument("--runs", type=int, default=10, help="onnxruntime runs per point")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    for model_dir in args.models:
        m = manifest(model_dir)
        if m["kind"] != "image":
            continue
        _, _, h, w = m["input"]["shape"]
        for threads in [int(t) for t in args.threads.split(",")]:
            print(f"live: {m['name']} at {threads} thread(s)...", file=sys.stderr)
            live = run_daemon(args.easeld, model_dir, threads, args.warmup, args.seconds)
            ort = ort_raw(model_dir, threads, args.runs)
            live.update(size=f"{w}x{h}", ort_median_ms=ort["median_ms"], ort_fps=1e3 / ort["median_ms"])
            rows.append(live)
    if not rows:
        print("live_bench: no image models among the arguments; nothing to measure", file=sys.stderr)
        return
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        return
    print("| model | size | threads | easeld live fps | capture→display p50 ms | p90 ms | ORT raw ms | ORT raw fps |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['size']} | {r['threads']} | {r['fps']:.2f} | {r['latency_p50_ms']:.0f} "
            f"| {r['latency_p90_ms']:.0f} | {r['ort_median_ms']:.0f} | {r['ort_fps']:.2f} |"
        )


if __name__ == "__main__":
    main()
