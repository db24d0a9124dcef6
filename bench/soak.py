#!/usr/bin/env python3
"""Soak: months of a piece compressed into minutes, against the real `easeld`.

Not a test (nothing is asserted): it prints the daemon's resident memory,
open file descriptors, threads and disk use of `data_dir` at the start and
at the end, so a leak shows as a number that grew. Meanwhile, for
`--minutes`:

- thousands of `generate` commands, each from a controller that connects,
  publishes and leaves (`mosquitto_pub`, when installed), and from the
  technician's admin endpoint;
- bursts of silent TCP connections to HTTP and to the embedded broker
  (closed by easeld's header timeout and the broker's CONNECT timeout);
- every `--kill-every` seconds a `kill -9` and a restart on the same
  `data_dir` (the archive and the deploy store must come back whole);
- once, a hostile model (a 4e13-element ConstantOfShape, when the Python
  `onnx` package is installed) dropped into `models_dir` beside the good one,
  picked up at the next restart and refused.

    python3 bench/soak.py --easeld target/release/easeld --minutes 5

The numbers depend on the machine; run it on an idle one and compare a
run's start with its end, not with another machine.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

TOKEN = "soak-admin-token"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(port, path, body=None, timeout=60):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body)
    if body is not None:
        req.add_header("Authorization", f"Bearer {TOKEN}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def hostile(models):
    """Writes the ConstantOfShape bomb package; False without `onnx`."""
    try:
        import hashlib
        import onnx
        from onnx import TensorProto, helper
    except ImportError:
        return False
    shape = helper.make_tensor("big_shape", TensorProto.INT64, [4], [1, 3, 4000000, 3333334])
    graph = helper.make_graph(
        [helper.make_node("ConstantOfShape", ["big_shape"], ["big"]), helper.make_node("Add", ["z", "big"], ["image"])],
        "bomb",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 3, 1, 1])],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, None)],
        [shape],
    )
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    d = os.path.join(models, "bomb")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(data)
    with open(os.path.join(d, "easel.toml"), "w") as f:
        f.write(
            f'name = "bomb"\nkind = "latent"\nfile = "model.onnx"\nsha256 = "{hashlib.sha256(data).hexdigest()}"\n'
            'license = "MIT"\n[input]\nname = "z"\nshape = [1, 3, 1, 1]\n[output]\nname = "image"\nrange = [0.0, 1.0]\n'
        )
    return True


def reading(pid, data_dir):
    status = open(f"/proc/{pid}/status").read()
    field = lambda k: next(l.split()[1] for l in status.splitlines() if l.startswith(k + ":"))
    disk = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(data_dir) for f in fs)
    return {
        "rss_mb": int(field("VmRSS")) / 1024,
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(field("Threads")),
        "disk_mb": disk / 2**20,
    }


class Piece:
    def __init__(self, easeld, tmp):
        self.easeld, self.tmp = easeld, tmp
        self.http_port, self.mqtt_port = free_port(), free_port()
        self.models = os.path.join(tmp, "models")
        self.data = os.path.join(tmp, "data")
        shutil.copytree(os.path.join(ROOT, "tests", "fixtures", "models", "dcgan-64"), os.path.join(self.models, "dcgan-64"))
        self.config = os.path.join(tmp, "easel.toml")
        with open(self.config, "w") as f:
            f.write(
                f'node = "soak"\nmodels_dir = {json.dumps(self.models)}\ndata_dir = {json.dumps(self.data)}\n'
                f'default_model = "dcgan-64"\nthreads = 1\n[archive]\nkeep = 200\n'
                f'[mqtt]\nembedded_listen = "127.0.0.1:{self.mqtt_port}"\n'
                f'[http]\nlisten = "127.0.0.1:{self.http_port}"\nadmin_token = "{TOKEN}"\nheader_timeout_s = 2\n'
            )
        self.child = None

    def start(self):
        log = open(os.path.join(self.tmp, "easeld.log"), "a")
        env = dict(os.environ, RUST_LOG="info,tract=warn", NO_COLOR="1")
        self.child = subprocess.Popen([self.easeld, "--config", self.config], stdout=subprocess.DEVNULL, stderr=log, env=env)
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                if json.loads(http(self.http_port, "/api/state")[1]).get("model"):
                    return
            except OSError:
                pass
            if self.child.poll() is not None:
                raise RuntimeError("easeld exited; see easeld.log")
            time.sleep(0.2)
        raise RuntimeError("no model in 300 s")

    def kill(self):
        self.child.send_signal(signal.SIGKILL)
        self.child.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--easeld", default=os.path.join(ROOT, "target/release/easeld"))
    p.add_argument("--minutes", type=float, default=5)
    p.add_argument("--kill-every", type=float, default=60)
    args = p.parse_args()
    pub = shutil.which("mosquitto_pub")
    with tempfile.TemporaryDirectory() as tmp:
        piece = Piece(args.easeld, tmp)
        piece.start()
        start = reading(piece.child.pid, piece.data)
        print("start:", json.dumps(start))
        counts = {"generate_http": 0, "generate_mqtt": 0, "answered": 0, "silent": 0, "kills": 0}
        end_at = time.time() + args.minutes * 60
        next_kill = time.time() + args.kill_every
        dropped = False
        seed = 0
        while time.time() < end_at:
            for _ in range(20):
                seed += 1
                status, _ = http(piece.http_port, "/admin/cmd/generate", json.dumps({"seed": seed}).encode())
                counts["generate_http"] += 1
                counts["answered"] += status in (200, 422)
                if pub:
                    subprocess.run([pub, "-p", str(piece.mqtt_port), "-t", "easel/soak/cmd/generate",
                                    "-m", json.dumps({"seed": seed, "request_id": f"s{seed}"})], check=False)
                    counts["generate_mqtt"] += 1
            silent = []
            for port in (piece.http_port, piece.mqtt_port):
                for _ in range(50):
                    try:
                        silent.append(socket.create_connection(("127.0.0.1", port), timeout=2))
                    except OSError:
                        break
            counts["silent"] += len(silent)
            for s in silent:
                s.close()
            if time.time() >= next_kill:
                if not dropped:
                    dropped = hostile(piece.models)
                piece.kill()
                counts["kills"] += 1
                piece.start()
                next_kill = time.time() + args.kill_every
        end = reading(piece.child.pid, piece.data)
        status, body = http(piece.http_port, "/healthz")
        piece.child.terminate()
        piece.child.wait(timeout=60)
        print("end:  ", json.dumps(end))
        print("did:  ", json.dumps(dict(counts, hostile_model=dropped)))
        print("healthz:", status, body.decode()[:400])


if __name__ == "__main__":
    main()
