#!/usr/bin/env python3
"""easel end to end against onnxruntime's raw inference, in one run.

The goal (docs/performance.md): an installation running easel shows more
frames per second than onnxruntime could even compute on the same model
and cores, and answers a visitor nearly as fast as onnxruntime runs one
image. This starts the real `easeld` (release build) on the embedded broker
with `threads = 2`, once per engine (`engine = "tract"`, then `engine =
"onnxruntime"`: its library is the Python package's, the one measured
alone below), and measures, through its own control plane and metrics:

  morph        `mode {"mode":"morph","fps":0}` on the DCGAN model:
               easel_frames_total per second
  live         `mode {"mode":"live","fps":0}` on the style model with
               `source = "test://pattern"`: easel_frames_total per second
  interactive  `generate` command -> `generated` event, p50 and p99 over
               200 commands (`easel ctl bench`), still mode
  cppn screen  the same on the CPPN model while a page is connected with a
               1920x1080 viewport (`/live?viewport=1920x1080`, as the kiosk
               reports it), so every picture is a full-screen CPPN: p50 over
               20 commands, against onnxruntime at 1920x1080

then runs onnxruntime on the same ONNX files with the same thread count
(bench/ort_bench.py: single image, intra-op threads = 2) and prints easel
on each engine beside it with the ratios; the goals are judged on the
better engine per case. Run it on an otherwise idle machine.

Packages are prepared the way an installation would prepare them: `easel
optimize` (verified graph rewrites, docs/performance.md) writes the
optimized package easeld runs (`--no-optimize` runs the originals).
onnxruntime runs both the original and the optimized file, and each ratio
is taken against the faster of the two, so a rewrite that happens to help
onnxruntime too is never counted in easel's favour.

    bash bench/speed.sh                       # builds, then runs this
    python3 bench/speed.py --easeld target/release/easeld --easel target/release/easel
    THREADS=1 ... / --threads 1               # other thread counts
    --engines tract                           # one engine only
"""

import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read().decode()


def metric(base, name):
    _, text = http_get(base + "/metrics")
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


class Piece:
    def __init__(self, easeld, easel, models, threads, engine, log, tail=""):
        self.dir = tempfile.mkdtemp(prefix="easel-speed-")
        self.mqtt, self.http = free_port(), free_port()
        self.easel = easel
        models_dir = os.path.join(self.dir, "models")
        os.mkdir(models_dir)
        for m in models:
            os.symlink(os.path.abspath(m), os.path.join(models_dir, os.path.basename(m.rstrip("/"))))
        self.names = [os.path.basename(m.rstrip("/")) for m in models]
        config = os.path.join(self.dir, "easel.toml")
        with open(config, "w") as f:
            f.write(
                f'node = "speed"\nmodels_dir = "{models_dir}"\ndata_dir = "{self.dir}/data"\n'
                f'default_model = "{self.names[0]}"\nthreads = {threads}\nsource = "test://pattern"\n'
                f'engine = "{engine}"\n\n'
                f'[mqtt]\nembedded_listen = "127.0.0.1:{self.mqtt}"\n\n'
                f'[http]\nlisten = "127.0.0.1:{self.http}"\n' + tail
            )
        self.base = f"http://127.0.0.1:{self.http}"
        env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
        self.proc = subprocess.Popen([easeld, "--config", config], stderr=log, env=env)
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                state = json.loads(http_get(self.base + "/api/state")[1])
                if len(state["models"]) == len(self.names) and http_get(self.base + "/healthz")[0] == 200:
                    ran = {m["engine"] for m in state["models"]}
                    if ran != {engine}:
                        raise SystemExit(f"easeld runs {ran}, not {engine}: {http_get(self.base + '/healthz')[1]}")
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("easeld did not become ready with every model in 180 s")

    def ctl(self, *args):
        cmd = [self.easel, "ctl", "--broker", f"mqtt://127.0.0.1:{self.mqtt}", "--to", "speed", *args]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)}: {out.stderr.strip()}")
        return out.stdout

    def frame_rate(self, warmup, seconds):
        time.sleep(warmup)
        f0, t0 = metric(self.base, "easel_frames_total"), time.time()
        time.sleep(seconds)
        f1, t1 = metric(self.base, "easel_frames_total"), time.time()
        return (f1 - f0) / (t1 - t0)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def ort(models, threads, runs, size=None):
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "ort_bench.py"), *models,
         "--threads", str(threads), "--runs", str(runs), "--json"]
        + (["--size", size] if size else []),
        capture_output=True, text=True, check=True,
    )
    return {r["model"]: r for r in json.loads(out.stdout)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--easeld", required=True)
    p.add_argument("--easel", required=True)
    p.add_argument("--latent-model", default=os.path.join(ROOT, "tests", "fixtures", "models", "dcgan-64"))
    p.add_argument("--image-model", default=os.path.join(ROOT, "models", "style-256"))
    p.add_argument("--cppn-model", default=os.path.join(ROOT, "models", "cppn-aurora"))
    p.add_argument("--screen", default="1920x1080", help="the kiosk viewport of the CPPN case")
    p.add_argument("--cppn-count", type=int, default=20, help="generate commands at screen size")
    p.add_argument("--threads", type=int, default=int(os.environ.get("THREADS", "2")))
    p.add_argument("--seconds", type=float, default=10.0, help="measuring time per mode")
    p.add_argument("--count", type=int, default=200, help="generate commands")
    p.add_argument("--no-optimize", action="store_true", help="run the packages as they are")
    p.add_argument("--engines", default="tract,onnxruntime", help="easel's engines to run, comma separated")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args()
    originals = [a.latent_model.rstrip("/"), a.image_model.rstrip("/"), a.cppn_model.rstrip("/")]
    if a.no_optimize:
        latent, image, cppn = originals
    else:
        work = tempfile.mkdtemp(prefix="easel-speed-models-")
        latent, image, cppn = (os.path.join(work, os.path.basename(m)) for m in originals)
        for src, dst in zip(originals, (latent, image, cppn)):
            print(f"easel optimize {src}", file=sys.stderr)
            subprocess.run([a.easel, "optimize", src, "-o", dst], check=True,
                           stdout=subprocess.DEVNULL)
        # A package no rewrite applies to is not written: run the original.
        latent, image, cppn = (d if os.path.isdir(d) else src
                               for src, d in zip(originals, (latent, image, cppn)))
    lname, iname, cname = (os.path.basename(m) for m in (latent, image, cppn))

    engines = [e for e in a.engines.split(",") if e]
    log = open(os.path.join(tempfile.gettempdir(), "easel-speed-easeld.log"), "w")
    easel = {}
    for engine in engines:
        print(f"easeld on {engine}: {lname}, {iname} and {cname}, threads = {a.threads}", file=sys.stderr)
        easel[engine] = run_piece(a, engine, latent, image, cppn, log)
    print("onnxruntime alone…", file=sys.stderr)
    runs = [ort([latent, image], a.threads, 100)]
    if not a.no_optimize:
        runs.append(ort(originals[:2], a.threads, 100))
    screen = [ort([cppn], a.threads, 10, a.screen)]
    if not a.no_optimize:
        screen.append(ort(originals[2:], a.threads, 10, a.screen))
    # The faster of onnxruntime's runs on the original and optimized files.
    ort_latent = min((r[lname] for r in runs), key=lambda r: r["median_ms"])
    ort_image = min((r[iname] for r in runs), key=lambda r: r["median_ms"])
    ort_cppn = min((r[cname] for r in screen), key=lambda r: r["median_ms"])
    o = {"latent": ort_latent, "image": ort_image, "cppn": ort_cppn, "all": runs + screen}
    raw = {
        "morph fps": 1e3 / ort_latent["median_ms"],
        "live fps": 1e3 / ort_image["median_ms"],
        "interactive p50 ms": ort_latent["median_ms"],
        "interactive p99 ms": ort_latent["p99_ms"],
        f"cppn {a.screen} p50 ms": ort_cppn["median_ms"],
    }
    models = {"morph fps": lname, "live fps": iname, "interactive p50 ms": lname, "interactive p99 ms": lname,
              f"cppn {a.screen} p50 ms": cname}
    notes = {"morph fps": "higher", "live fps": "higher", "interactive p50 ms": "goal: ≤ ORT + 5 ms", "interactive p99 ms": "",
             f"cppn {a.screen} p50 ms": "goal: ≤ ORT + 20 ms"}
    head = " | ".join(f"easel {e}" for e in engines)
    ratios = " | ".join(f"{e}/ORT" for e in engines)
    print(f"\n| case | model | {head} | onnxruntime alone ({a.threads} threads) | {ratios} | |")
    print("|---|---|" + "---|" * (2 * len(engines) + 2))
    for case, theirs in raw.items():
        ours = [easel[e][case] for e in engines]
        cells = " | ".join(f"{v:.2f}" for v in ours)
        rs = " | ".join(f"{v / theirs:.2f}x" for v in ours)
        print(f"| {case} | {models[case]} | {cells} | {theirs:.2f} | {rs} | {notes[case]} |")
    best = lambda case, pick: pick(easel[e][case] for e in engines)
    verdict = [
        ("morph", best("morph fps", max) >= raw["morph fps"]),
        ("live", best("live fps", max) >= raw["live fps"]),
        ("interactive", best("interactive p50 ms", min) <= raw["interactive p50 ms"] + 5.0),
        ("cppn screen", best(f"cppn {a.screen} p50 ms", min) <= raw[f"cppn {a.screen} p50 ms"] + 20.0),
    ]
    print("\ngoals met (best engine per case): " + ", ".join(f"{k} {'yes' if ok else 'NO'}" for k, ok in verdict))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"threads": a.threads, "easel": easel, "ort": o}, f, indent=2)


class Viewport:
    """A page connected to `/live` with a screen size, as the kiosk's: the
    daemon renders still CPPN pictures at that size while it is open."""

    def __init__(self, piece, screen):
        self.conn = http.client.HTTPConnection("127.0.0.1", piece.http, timeout=10)
        self.conn.request("GET", f"/live?viewport={screen}")
        self.response = self.conn.getresponse()
        self.response.readline()  # the hello: the daemon has the size

    def close(self):
        self.conn.close()


def run_piece(a, engine, latent, image, cppn, log):
    """One easeld on `engine`: interactive latency, morph and live frame
    rates, full-screen CPPN latency."""
    lname, iname, cname = (os.path.basename(m) for m in (latent, image, cppn))
    piece = Piece(a.easeld, a.easel, [latent, image, cppn], a.threads, engine, log)
    try:
        print(f"  cppn at {a.screen}: generate -> generated…", file=sys.stderr)
        page = Viewport(piece, a.screen)
        screen = json.loads(piece.ctl("bench", "--count", str(a.cppn_count), "--flood-clients", "0",
                                      "--model", cname, "--json"))
        page.close()
        latest = json.loads(http_get(piece.base + "/api/state")[1])["latest"]
        if f"{latest['width']}x{latest['height']}" != a.screen:
            raise SystemExit(f"the CPPN pictures were {latest['width']}x{latest['height']}, not {a.screen}")
        print("  interactive: generate -> generated…", file=sys.stderr)
        bench = json.loads(piece.ctl("bench", "--count", str(a.count), "--flood-clients", "0",
                                     "--model", lname, "--json"))
        rtt = bench["latency"]["round_trip"]
        print("  morph…", file=sys.stderr)
        piece.ctl("model", json.dumps({"name": lname}))
        piece.ctl("mode", json.dumps({"mode": "morph", "fps": 0}))
        morph_fps = piece.frame_rate(3, a.seconds)
        piece.ctl("mode", json.dumps({"mode": "still"}))
        print("  live…", file=sys.stderr)
        piece.ctl("model", json.dumps({"name": iname}))
        piece.ctl("mode", json.dumps({"mode": "live", "fps": 0}))
        live_fps = piece.frame_rate(5, max(a.seconds, 20))
        piece.ctl("mode", json.dumps({"mode": "still"}))
    finally:
        piece.stop()
    return {
        "morph fps": morph_fps,
        "live fps": live_fps,
        "interactive p50 ms": rtt["median_ms"],
        "interactive p99 ms": rtt["p99_ms"],
        f"cppn {a.screen} p50 ms": screen["latency"]["round_trip"]["median_ms"],
        "round_trip": rtt,
        "cppn_round_trip": screen["latency"]["round_trip"],
    }


if __name__ == "__main__":
    main()
