#!/usr/bin/env python3
"""onnxruntime f32 vs onnxruntime int8 (its own `quantize_static`) on the
same models and seeds as `easel quantize` / `easel bench`, so the bench
table can put easel's variants beside what the standard runtime does.

    pip install onnxruntime onnx numpy          # (scripts/setup.sh does this)
    python3 bench/ort_quant.py tests/fixtures/models/dcgan-64 models/style-256
    python3 bench/ort_quant.py models/* --threads 1,2 --runs 20 --samples 32 --json

For each model: onnxruntime's static quantization (QDQ format, per-channel
int8 weights, uint8 activations, min-max calibration) calibrated on 32
seeds starting at 0xCA1B0000 (the seeds `easel quantize` calibrates on);
PSNR of the int8 pictures against f32 over seeds 1..N (the seeds `easel
quantize` judges on), as 8-bit pixels through the manifest's output range;
file size; median latency of `session.run` at each thread count.
Latent and CPPN models see exactly easel's latents (SplitMix64 +
Box-Muller, docs/seeds.md); image models see seeded random pictures,
which are not easel's synthetic pictures, so their PSNR is comparable in
kind, not value. The int8 model is written to a temporary folder.
"""

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
import tomllib

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat,
                                      QuantType, quantize_static)

CALIB_SEED = 0xCA1B0000
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
from easel_reference import cppn_coords, latent  # noqa: E402


def feeds(m, seed, size):
    shape = m["input"]["shape"]
    if m["kind"] == "image":
        lo, hi = m["input"]["range"]
        px = np.random.default_rng(seed).integers(0, 256, size=shape).astype(np.float32)
        return {m["input"]["name"]: (lo + px / 255.0 * (hi - lo)).astype(np.float32)}
    out = {m["input"]["name"]: latent(seed, int(np.prod(shape))).reshape(shape)}
    if m["kind"] == "cppn":
        w, h = size
        out[m["cppn"]["coords"]] = cppn_coords(w, h, m["cppn"].get("scale", 1.0))
    return out


def pixels(out, m):
    lo, hi = m["output"]["range"]
    return np.rint(np.clip((out - lo) / (hi - lo), 0, 1) * 255).astype(np.float64)


def psnr(a, b):
    mse = float(np.mean((a - b) ** 2))
    return 100.0 if mse == 0 else min(100.0, 10 * math.log10(255.0**2 / mse))


class Reader(CalibrationDataReader):
    def __init__(self, m, n, size):
        self.items = iter([feeds(m, CALIB_SEED + i, size) for i in range(n)])

    def get_next(self):
        return next(self.items, None)


def session(path, threads):
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def latency(sess, feed, runs):
    for _ in range(3):
        sess.run(None, feed)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--calib", type=int, default=32)
    ap.add_argument("--size", default="128x128", help="cppn picture size (easel quantize's default)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    size = tuple(int(v) for v in a.size.split("x"))
    rows = []
    tmp = tempfile.mkdtemp(prefix="ort-quant-")
    for d in a.models:
        with open(os.path.join(d, "easel.toml"), "rb") as f:
            m = tomllib.load(f)
        f32 = os.path.join(d, m["file"])
        int8 = os.path.join(tmp, m["name"] + "-ort-int8.onnx")
        quantize_static(f32, int8, Reader(m, a.calib, size), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8)
        s32, s8 = session(f32, 1), session(int8, 1)
        scores = []
        for seed in range(1, a.samples + 1):
            fd = feeds(m, seed, size)
            scores.append(psnr(pixels(s32.run(None, fd)[0], m), pixels(s8.run(None, fd)[0], m)))
        fd = feeds(m, 1, size)
        for variant, path in (("ort f32", f32), ("ort int8", int8)):
            row = {"model": m["name"], "variant": variant, "bytes": os.path.getsize(path),
                   "psnr_db": None if variant == "ort f32" else round(statistics.mean(scores), 2),
                   "psnr_worst_db": None if variant == "ort f32" else round(min(scores), 2)}
            for t in threads:
                row[f"ms_{t}t"] = round(latency(session(path, t), fd, a.runs), 2)
            rows.append(row)
            print(f"  {m['name']} {variant}: {row}", file=sys.stderr)
    if a.json:
        print(json.dumps(rows, indent=2))
        return
    cols = " | ".join(f"{t} thr ms" for t in threads)
    print(f"| model | variant | MB | PSNR dB (worst) | {cols} |")
    print("|---|---|---|---|" + "---|" * len(threads))
    for r in rows:
        q = "-" if r["psnr_db"] is None else f"{r['psnr_db']} ({r['psnr_worst_db']})"
        ms = " | ".join(str(r[f"ms_{t}t"]) for t in threads)
        print(f"| {r['model']} | {r['variant']} | {r['bytes'] / 1e6:.2f} | {q} | {ms} |")


if __name__ == "__main__":
    main()
