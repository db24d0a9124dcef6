#!/usr/bin/env python3
"""What Content Credentials cost (docs/performance.md, "Content Credentials").

1. `easel bench-sign`: signing time per picture (median, p99) at several
   picture sizes and for the model's own picture, with the PNG encoding
   time beside it and the bytes a manifest adds.
2. The interactive path with and without signing: the real `easeld` on
   the embedded broker, `generate` -> `generated` over 200 commands
   (`easel ctl bench`, still mode), once signing (the per-installation
   credential) and once with a `[credentials]` table naming files that do
   not exist (so the daemon archives unsigned pictures, nothing else
   differs). Runs alternate signed / unsigned / signed / unsigned so drift
   on a shared machine falls on both.

    python3 bench/signing.py --easeld PATH/easeld --easel PATH/easel [--model tests/fixtures/models/dcgan-64]
    bash bench/signing.sh      # builds (release), then runs this
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from speed import ROOT, Piece  # noqa: E402

UNSIGNED = '\n[credentials]\ncert = "/nonexistent/signer.pem"\nkey = "/nonexistent/signer.key"\n'


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--easeld", required=True)
    p.add_argument("--easel", required=True)
    p.add_argument("--model", default=os.path.join(ROOT, "tests", "fixtures", "models", "dcgan-64"))
    p.add_argument("--threads", type=int, default=int(os.environ.get("THREADS", "2")))
    p.add_argument("--count", type=int, default=200, help="generate commands per run")
    p.add_argument("--runs", type=int, default=300, help="signatures per picture in bench-sign")
    p.add_argument("--rounds", type=int, default=2, help="signed/unsigned pairs of daemon runs")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args()
    model = a.model.rstrip("/")
    name = os.path.basename(model)

    print("easel bench-sign…", file=sys.stderr)
    out = subprocess.run(
        [a.easel, "bench-sign", "--model", model, "--runs", str(a.runs), "--json"],
        capture_output=True, text=True, check=True,
    )
    sign = json.loads(out.stdout)

    log = open(os.path.join(tempfile.gettempdir(), "easel-signing-easeld.log"), "w")
    latency = {"signed": [], "unsigned": []}
    for _ in range(a.rounds):
        for case, tail in (("signed", ""), ("unsigned", UNSIGNED)):
            print(f"easeld ({case}): generate -> generated × {a.count}…", file=sys.stderr)
            piece = Piece(a.easeld, a.easel, [model], a.threads, log, tail)
            try:
                piece.ctl("generate", "--seed", "1")  # the first picture: warm-up
                bench = json.loads(piece.ctl("bench", "--count", str(a.count), "--flood-clients", "0",
                                             "--model", name, "--json"))
            finally:
                piece.stop()
            latency[case].append(bench["latency"]["round_trip"])

    print("\n| picture | PNG bytes | + manifest | sign median ms | sign p99 ms | PNG encode median ms |")
    print("|---|---|---|---|---|---|")
    for m in sign:
        print(f"| {m['picture']} ({m['width']}x{m['height']}) | {m['png_bytes']} | {m['manifest_bytes']} | "
              f"{m['median_ms']:.2f} | {m['p99_ms']:.2f} | {m['encode_median_ms']:.2f} |")
    print(f"\n| {name}, threads = {a.threads} | generate -> generated p50 ms | p99 ms |")
    print("|---|---|---|")
    for case in ("signed", "unsigned"):
        for i, r in enumerate(latency[case]):
            print(f"| {case} (run {i + 1}) | {r['median_ms']:.2f} | {r['p99_ms']:.2f} |")
    med = lambda case, k: statistics.median(r[k] for r in latency[case])  # noqa: E731
    d50 = med("signed", "median_ms") - med("unsigned", "median_ms")
    d99 = med("signed", "p99_ms") - med("unsigned", "p99_ms")
    print(f"\nsigning adds {d50:+.2f} ms at p50 and {d99:+.2f} ms at p99 (medians over the runs)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"bench_sign": sign, "latency": latency}, f, indent=2)


if __name__ == "__main__":
    main()
