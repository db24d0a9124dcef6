#!/usr/bin/env python3
"""Runs the aarch64 build under qemu-user and checks what it makes.

    python3 scripts/aarch64-check.py --arm-dir DIR --host-easel PATH [--quick]

DIR holds the aarch64 `easel` and `easeld` (a release build for
aarch64-unknown-linux-gnu); PATH is this machine's own `easel`, used only to
make the quantized variants and to talk to the aarch64 daemon. Checks:

1. every reference model, `easel generate` on aarch64, against the
   onnxruntime fixtures (tests/fixtures/cases.json): within one 8-bit level;
2. their quantized variants (weights, static, f16, made here by `easel
   quantize`), `easel generate` on aarch64 against onnxruntime running the
   same variant on the same input: float variants within one level, int8
   ones reported with their largest difference and whether aarch64 and
   this machine agree (tract's ARM and x86 int8 kernels round differently:
   docs/install.md, "The package");
3. the aarch64 `easeld` comes online, answers one `generate`, and stops on
   SIGTERM.

Everything runs on one thread: under qemu-user a second one makes tract's
thread pool spin (a 48x32 CPPN took 157 s on two threads, 33 s on one),
and emulation is slow anyway: style-256 takes ~2 minutes a picture with
easel's fast paths (~5.5 before them; x86 release build of qemu 7.2 on a
2-core VM, Dec 2026), so the whole check is most of an hour. `--quick`
(the test suite's) checks one case of each reference model (style-256's
the only aarch64 run of easel's direct convolution and remap kernels),
the DCGAN's three variants, and the daemon with the DCGAN: about five
minutes.

Needs numpy, pillow and onnxruntime (scripts/setup.sh installs them), and
qemu-aarch64-static with the aarch64 libraries (Debian's qemu-user-static
and libc6-dev-arm64-cross). Prints a table; exits non-zero on a failure.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
import onnxruntime as ort
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
sys.path.insert(0, FIXTURES)
from easel_reference import cppn_coords, latent  # noqa: E402

QEMU = ["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu"]
failures = []


def fail(message):
    failures.append(message)
    print(f"FAIL {message}", flush=True)


def model_dir(name):
    """A reference model's folder: models/, or the test fixtures for the
    ones that are not shipped."""
    for base in (os.path.join(ROOT, "models"), os.path.join(FIXTURES, "models")):
        if os.path.isfile(os.path.join(base, name, "easel.toml")):
            return os.path.join(base, name)
    raise SystemExit(f"no reference model {name} in models/ or tests/fixtures/models/")


def manifest(path):
    import tomllib

    with open(os.path.join(path, "easel.toml"), "rb") as f:
        return tomllib.load(f)


def levels(values, lo, hi):
    """The contract's output mapping: round(clamp((v - lo) / (hi - lo)) * 255)."""
    unit = np.clip((values.astype(np.float32) - np.float32(lo)) / np.float32(hi - lo), 0.0, 1.0)
    return np.rint(unit * np.float32(255.0)).astype(np.int16)


def picture(values, layout):
    """[1, C, H, W] or [1, H, W, C] -> H x W x 3."""
    v = values[0]
    if layout == "nchw":
        v = np.transpose(v, (1, 2, 0))
    if v.shape[2] == 1:
        v = np.repeat(v, 3, axis=2)
    return v[:, :, :3]


def read_png(path):
    return np.asarray(Image.open(path).convert("RGB")).astype(np.int16)


def generate(easel, model, out, seed=None, size=None, image=None, arm=True):
    cmd = (QEMU if arm else []) + [easel, "generate", "--model", model, "-o", out, "--no-credentials", "--threads", "1"]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    if size is not None:
        cmd += ["--size", f"{size[0]}x{size[1]}"]
    if image is not None:
        cmd += ["--input", image]
    started = time.time()
    try:
        # style-256 took 185 s under qemu on one 2-core VM, 628 s on a
        # busy one and 1278 s on another (Dec 2026): emulation speed, not
        # easel's, varies that much between hosts (on the slow one qemu
        # ran easel's convolution kernel 17x slower inside easel than in a
        # small test binary, and tract's own products as slowly).
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=3000)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{' '.join(cmd)}: no picture after 3000 s")
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {run.stderr.strip()}")
    return read_png(out), time.time() - started


def onnxruntime_output(model, inputs):
    m = manifest(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(os.path.join(model, m["file"]), options, providers=["CPUExecutionProvider"])
    (out,) = session.run([m["output"]["name"]], inputs)
    return levels(picture(out, m["output"].get("layout", "nchw")), *m["output"]["range"])


def case_inputs(model, seed=None, size=None, image=None):
    """The tensors easel feeds `model` for a seed (and size) or a picture,
    from the documentation (easel_reference.py), for onnxruntime."""
    m = manifest(model)
    name, shape = m["input"]["name"], m["input"]["shape"]
    if image is not None:
        lo, hi = m["input"].get("range", [0.0, 1.0])
        rgb = np.asarray(Image.open(image).convert("RGB")).astype(np.float32)
        assert rgb.shape[:2] == (shape[2], shape[3]), "the check's pictures have the model's size"
        x = np.float32(lo) + rgb / np.float32(255.0) * np.float32(hi - lo)
        return {name: np.transpose(x, (2, 0, 1))[None].astype(np.float32)}
    z = latent(seed, int(np.prod(shape))).reshape(shape)
    inputs = {name: z}
    if m["kind"] == "cppn":
        inputs[m["cppn"]["coords"]] = cppn_coords(size[0], size[1], m["cppn"].get("scale", 1.0))
    return inputs


def row(what, variant, diff, seconds, note=""):
    print(f"{what:<28} {variant:<10} {diff:>9} {seconds:>8.1f} s  {note}", flush=True)


def check_references(arm_easel, work, quick):
    cases = json.load(open(os.path.join(FIXTURES, "cases.json")))["cases"]
    if quick:
        # The first case of each model.
        firsts = {}
        for case in cases:
            firsts.setdefault(case["model"], case)
        cases = list(firsts.values())
    for case in cases:
        model = model_dir(case["model"])
        m = manifest(model)
        expected = levels(picture(np.load(os.path.join(FIXTURES, case["output"])), m["output"].get("layout", "nchw")), *m["output"]["range"])
        out = os.path.join(work, "ref.png")
        what = f"{case['model']} " + (f"seed {case['seed'] % 10**6}" if "seed" in case else case["picture"])
        try:
            if "size" in case:
                got, secs = generate(arm_easel, model, out, seed=case["seed"], size=case["size"])
            elif "seed" in case:
                got, secs = generate(arm_easel, model, out, seed=case["seed"])
            else:
                got, secs = generate(arm_easel, model, out, image=os.path.join(FIXTURES, case["picture"]))
        except RuntimeError as e:
            fail(str(e))
            continue
        diff = int(np.abs(got - expected).max()) if got.shape == expected.shape else None
        row(what, "f32", "shape!" if diff is None else f"{diff} lvl", secs)
        if diff is None or diff > 1:
            fail(f"{what}: aarch64 differs from onnxruntime by {diff} levels (allowed: 1)")


def check_variants(arm_easel, host_easel, work, quick):
    calib = os.path.join(work, "calib")
    os.makedirs(calib, exist_ok=True)
    for png in ("style-256_bands.png", "style-256_noise.png"):
        os.symlink(os.path.join(FIXTURES, png), os.path.join(calib, png))
    for name in ("dcgan-64",) if quick else ("cppn-aurora", "dcgan-64", "style-256"):
        base = model_dir(name)
        kind = manifest(base)["kind"]
        for mode in ("weights", "static", "f16"):
            variant = os.path.join(work, f"{name}-{mode}")
            cmd = [host_easel, "quantize", base, "--mode", mode, "--force", "-o", variant]
            if mode == "static" and kind == "image":
                cmd += ["--calib", calib]
            q = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
            if q.returncode != 0:
                fail(f"easel quantize {name} --mode {mode}: {q.stderr.strip()}")
                continue
            args = {"image": os.path.join(FIXTURES, "style-256_bands.png")} if kind == "image" else {"seed": 7}
            if kind == "cppn":
                args["size"] = (48, 32)
            try:
                got, secs = generate(arm_easel, variant, os.path.join(work, "arm.png"), **args)
                here, _ = generate(host_easel, variant, os.path.join(work, "host.png"), arm=False, **args)
            except RuntimeError as e:
                fail(str(e))
                continue
            expected = onnxruntime_output(variant, case_inputs(variant, **args))
            diff = int(np.abs(got - expected).max())
            across = int(np.abs(got - here).max())
            integer = mode == "static"
            note = f"aarch64 vs x86_64 easel: {across} lvl"
            if integer and across > 1:
                note += " (int8 rounding differs by architecture)"
            row(name, mode, f"{diff} lvl", secs, note)
            if not integer and diff > 1:
                fail(f"{name} {mode}: aarch64 differs from onnxruntime by {diff} levels (allowed: 1)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_daemon(arm_easeld, host_easel, work):
    mqtt, http = free_port(), free_port()
    models = os.path.join(work, "models")
    os.makedirs(models)
    # The DCGAN: the quickest model to load under emulation.
    os.symlink(model_dir("dcgan-64"), os.path.join(models, "dcgan-64"))
    config = os.path.join(work, "easel.toml")
    with open(config, "w") as f:
        f.write(
            f'node = "arm"\nmodels_dir = "{models}"\ndata_dir = "{work}/data"\n'
            f'default_model = "dcgan-64"\nthreads = 1\n\n'
            f'[mqtt]\nembedded_listen = "127.0.0.1:{mqtt}"\n\n[http]\nlisten = "127.0.0.1:{http}"\n'
        )
    log = open(os.path.join(work, "easeld.log"), "w")
    started = time.time()
    proc = subprocess.Popen(QEMU + [arm_easeld, "--config", config], stderr=log)
    try:
        online = None
        while time.time() - started < 600 and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/healthz", timeout=5) as r:
                    if r.status == 200:
                        online = time.time() - started
                        break
            except OSError:
                pass
            time.sleep(1)
        if online is None:
            fail(f"aarch64 easeld did not come online (log: {open(log.name).read()[-2000:]})")
            return
        ctl = subprocess.run(
            [host_easel, "ctl", "--broker", f"mqtt://127.0.0.1:{mqtt}", "--to", "arm", "--timeout", "600", "generate", "--seed", "7"],
            capture_output=True, text=True, timeout=700,
        )
        answer = ctl.stdout.strip().splitlines()[-1:] or [""]
        if ctl.returncode != 0 or '"generated"' not in answer[0]:
            fail(f"aarch64 easeld did not answer generate: {ctl.stderr.strip()} {answer[0]}")
        stopping = time.time()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=120)
        row("easeld", "", "online", online, f"generate answered; SIGTERM -> exit {code} in {time.time() - stopping:.1f} s")
        if code != 0:
            fail(f"aarch64 easeld exited {code} on SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arm-dir", required=True)
    p.add_argument("--host-easel", required=True)
    p.add_argument("--skip-variants", action="store_true")
    p.add_argument("--quick", action="store_true", help="one case per model, one variant set (see the module doc)")
    a = p.parse_args()
    arm_easel, arm_easeld = os.path.join(a.arm_dir, "easel"), os.path.join(a.arm_dir, "easeld")
    arch = subprocess.run(QEMU + [arm_easel, "--version"], capture_output=True, text=True)
    if arch.returncode != 0:
        raise SystemExit(f"the aarch64 easel does not run under qemu: {arch.stderr.strip()}")
    print(f"aarch64 under {subprocess.run(['qemu-aarch64-static', '--version'], capture_output=True, text=True).stdout.splitlines()[0]}")
    print(f"{'model':<28} {'variant':<10} {'vs ort':>9} {'time':>10}")
    with tempfile.TemporaryDirectory(prefix="easel-aarch64-") as work:
        check_references(arm_easel, work, a.quick)
        if not a.skip_variants:
            check_variants(arm_easel, a.host_easel, work, a.quick)
        check_daemon(arm_easeld, a.host_easel, work)
    if failures:
        print(f"\n{len(failures)} failure(s)")
        sys.exit(1)
    print("\naarch64: every check passed")


if __name__ == "__main__":
    main()
