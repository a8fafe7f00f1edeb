#!/usr/bin/env python3
"""A zoo model's evaluation with its `ans` bytes replaced by a context model's ideal
code length (`splitfeat context-study` JSON files), for `splitfeat compare`.

The context model codes the very codes `ans` codes, so each `ans@n` row keeps its
accuracy and takes the context model's bytes at that depth; `ans` rows of depths the
studies did not measure are dropped, so that no row mixes the two coders. In the
comparison's tables the "ans+JPEG" family then reads "context model+JPEG". The bytes
are ideal code lengths (the payload's -log2 P plus the stream's 38 bytes), not coded
streams: docs/results.md, "A context model of the codes".

usage: context_frontier.py MODEL_NAME OUT.json STUDY.json [STUDY.json ...]
       (the model's evaluation is read from assets/manifest.json)
"""
import json
import sys


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    name, out, studies = sys.argv[1], sys.argv[2], sys.argv[3:]
    manifest = json.load(open("assets/manifest.json"))
    entry = next((m for m in manifest["models"] if m["name"] == name), None)
    if entry is None or not entry.get("eval"):
        sys.exit(f"{name}: no such model with an evaluation in assets/manifest.json")
    report = entry["eval"]
    context = {}
    for path in studies:
        study = json.load(open(path))
        if study["model"] != name:
            sys.exit(f"{path} is a study of {study['model']}, not {name}")
        if study["val_scenes"] != report["images"]:
            sys.exit(f"{path}: {study['val_scenes']} scenes, the evaluation {report['images']}")
        for depth in study["depths"]:
            context[depth["bits"]] = depth["context_bytes"]
    main_bits = report["bits"]
    rows = []
    for row in report["results"]:
        if row["codec"] != "ans":
            rows.append(row)
            continue
        bits = row.get("bits") or main_bits
        if bits not in context:
            continue
        scale = context[bits] / row["bytes_per_image"]
        rows.append({**row, "bytes_per_image": context[bits], "bits_per_element": row["bits_per_element"] * scale})
    json.dump({**report, "results": rows}, open(out, "w"), indent=1)


if __name__ == "__main__":
    main()
