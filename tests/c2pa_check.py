#!/usr/bin/env python3
"""Reads a picture's C2PA manifest with the CAI's own SDK (the PyPI
`c2pa-python` wheel, which bundles its own build of c2pa-rs): the
independent reader easel's tests check their pictures with.

    python3 tests/c2pa_check.py PICTURE.png [--trust CA.pem ...]

Prints one JSON object: the validation state (`Invalid`, `Valid`,
`Trusted`, or `null` when no manifest is found), the failure codes, the
claim generators, every action and digital source type of the active
manifest, and easel's own assertion. Exit status 0 whenever the file was
read, whatever the verdict; 2 when the SDK is not installed
(scripts/setup.sh installs it).
"""

import argparse
import json
import sys

try:
    import c2pa
except ImportError:
    print("c2pa-python is not installed (pip install c2pa-python; scripts/setup.sh)", file=sys.stderr)
    sys.exit(2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("picture")
    ap.add_argument("--trust", action="append", default=[])
    args = ap.parse_args()

    settings = {"verify": {"verify_trust": True, "remote_manifest_fetch": False, "ocsp_fetch": False}}
    if args.trust:
        anchors = "".join(open(p).read() for p in args.trust)
        settings["trust"] = {"trust_anchors": anchors}
    context = c2pa.Context(c2pa.Settings.from_dict(settings))

    out = {
        "sdk": c2pa.sdk_version(),
        "state": None,
        "failures": [],
        "generators": [],
        "actions": [],
        "digital_source_types": [],
        "ingredients": [],
        "easel": None,
        "signer": None,
    }
    try:
        with open(args.picture, "rb") as f:
            with c2pa.Reader("image/png", f, None, context) as reader:
                report = json.loads(reader.json())
    except c2pa.C2paError as e:
        # No manifest at all, or one too broken to parse.
        out["error"] = str(e)
        print(json.dumps(out))
        return

    out["state"] = report.get("validation_state")
    active = report.get("validation_results", {}).get("activeManifest", {})
    out["failures"] = [s.get("code") for s in active.get("failure", [])]
    manifest = report.get("manifests", {}).get(report.get("active_manifest"), {})
    out["generators"] = manifest.get("claim_generator_info", [])
    out["ingredients"] = [
        {"title": i.get("title"), "relationship": i.get("relationship")}
        for i in manifest.get("ingredients", [])
    ]
    out["signer"] = manifest.get("signature_info", {})
    for a in manifest.get("assertions", []):
        label = a.get("label", "")
        if label.startswith("c2pa.actions"):
            out["actions_label"] = label
            for action in a.get("data", {}).get("actions", []):
                out["actions"].append(action.get("action"))
                if "digitalSourceType" in action:
                    out["digital_source_types"].append(action["digitalSourceType"])
        elif label == "easel.provenance":
            out["easel"] = a.get("data")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
