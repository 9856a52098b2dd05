#!/usr/bin/env python3
"""Prints a Markdown table of criterion results for one benchmark group, with ratios.

usage: benches/report.py GROUP BASELINE [TARGET_DIR]
  GROUP     criterion group, e.g. message_parse
  BASELINE  the variant the others are compared with, e.g. mail-parser
Reads TARGET_DIR/criterion/GROUP/<variant>/<input>/new/estimates.json (mean).
"""
import json, os, sys

group, baseline = sys.argv[1], sys.argv[2]
target = sys.argv[3] if len(sys.argv) > 3 else os.environ.get("CARGO_TARGET_DIR", "target")
root = os.path.join(target, "criterion", group)
results = {}
for variant in sorted(os.listdir(root)):
    vdir = os.path.join(root, variant)
    if variant == "report" or not os.path.isdir(vdir):
        continue
    for inp in sorted(os.listdir(vdir)):
        est = os.path.join(vdir, inp, "new", "estimates.json")
        if os.path.exists(est):
            with open(est) as f:
                results.setdefault(inp, {})[variant] = json.load(f)["mean"]["point_estimate"]
variants = sorted({v for r in results.values() for v in r if v != baseline})
print("| input | " + " | ".join(f"{v} (µs)" for v in variants) + f" | {baseline} (µs) | " +
      " | ".join(f"{baseline} ÷ {v}" for v in variants) + " |")
print("|---" * (2 * len(variants) + 2) + "|")
for inp, r in sorted(results.items()):
    if baseline not in r:
        continue
    cells = [f"{r[v] / 1000:.2f}" if v in r else "–" for v in variants]
    ratios = [f"{r[baseline] / r[v]:.2f}×" if v in r else "–" for v in variants]
    print(f"| {inp} | " + " | ".join(cells) + f" | {r[baseline] / 1000:.2f} | " + " | ".join(ratios) + " |")
