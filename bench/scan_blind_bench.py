"""Benchmark: ``keyturn scan`` vs detect-secrets on the independently written corpus.

Generates ``bench/scan_corpus_blind.py`` corpora (one per seed) under a temporary
directory in /tmp (outside any git work tree, so keyturn's paths stay relative to the
scanned directory), runs

* ``python -m keyturn scan TREE --format json --exit-zero``   (PYTHONPATH=src)
* ``detect-secrets scan --all-files --no-verify .``            (cwd = TREE)

and scores both against ``labels.json``:

* keyturn: a finding is a true positive when (path, line, detector) equals a label's
  (path, line, kind); for a multi-line PEM label any line of the block counts. Several
  findings on one label count once. Any other finding — including one on a labelled
  line but with another detector ("kind mismatch") — is a false positive, counted once
  per (path, line, detector).
* detect-secrets: matched by (path, line) only (its plugin names differ); false
  positives counted once per (path, line). keyturn is also scored this way
  ("location only") so the two tools are compared on equal terms.

Prints precision/recall/F1 overall and per kind for both tools and every keyturn miss
and false positive (secret replaced by ``<redacted>``), and writes
``bench/results/scan-blind-<UTC date>.json``.

Usage (from the repository root)::

    .venv/bin/python bench/scan_blind_bench.py [--seeds 101 202 303] [--scale 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import scan_corpus_blind as corpus  # noqa: E402

PY = ROOT / ".venv" / "bin" / "python"
DS = ROOT / ".venv" / "bin" / "detect-secrets"


def run_keyturn(tree: Path) -> tuple[list[dict], float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    t = time.perf_counter()
    p = subprocess.run([str(PY), "-m", "keyturn", "scan", str(tree), "--format", "json", "--exit-zero"],
                       cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(p.stdout)["findings"], time.perf_counter() - t


def run_ds(tree: Path) -> tuple[list[dict], float]:
    t = time.perf_counter()
    p = subprocess.run([str(DS), "scan", "--all-files", "--no-verify", "."], cwd=tree,
                       capture_output=True, text=True, check=True)
    out = []
    for path, items in json.loads(p.stdout)["results"].items():
        for it in items:
            out.append({"path": path.removeprefix("./"), "line": it["line_number"], "type": it["type"]})
    return out, time.perf_counter() - t


def label_index(labels):
    idx = defaultdict(list)  # (path, line) -> [label index]
    for i, lab in enumerate(labels):
        for ln in range(lab["line"], lab.get("end_line", lab["line"]) + 1):
            idx[(lab["path"], ln)].append(i)
    return idx


def score_keyturn(labels, findings):
    idx = label_index(labels)
    hit = set()
    fps = {}
    for f in findings:
        cands = [i for i in idx.get((f["path"], f["line"]), []) if labels[i]["kind"] == f["detector"]]
        if cands:
            hit.add(cands[0])
            continue
        key = (f["path"], f["line"], f["detector"])
        if key not in fps:
            other = [labels[i]["kind"] for i in idx.get((f["path"], f["line"]), [])]
            fps[key] = {"path": f["path"], "line": f["line"], "kind": f["detector"],
                        "column": f.get("column"), "end_column": f.get("end_column"),
                        "kind_mismatch_with": other[0] if other else None}
    return hit, list(fps.values())


def score_ds(labels, findings):
    idx = label_index(labels)
    hit = set()
    fps = {}
    for f in findings:
        cands = idx.get((f["path"], f["line"]), [])
        if cands:
            hit.update(cands)
            continue
        fps.setdefault((f["path"], f["line"]), {"path": f["path"], "line": f["line"], "types": set()})
        fps[(f["path"], f["line"])]["types"].add(f["type"])
    for v in fps.values():
        v["types"] = sorted(v["types"])
    return hit, list(fps.values())


def prf(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4)}


def line_text(tree: Path, path: str, line: int) -> str:
    try:
        return (tree / path).read_text(encoding="utf-8").split("\n")[line - 1]
    except (OSError, IndexError):
        return ""


def clip(s: str, n: int = 160) -> str:
    s = s.strip()
    return s if len(s) <= n else s[: n - 1] + "…"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[101, 202, 303])
    ap.add_argument("--scale", type=int, default=3)
    ap.add_argument("--json", help="result file (default bench/results/scan-blind-<date>.json)")
    a = ap.parse_args(argv)

    tot = Counter()
    per_kind = defaultdict(lambda: Counter())
    kt_fns, kt_fps, ds_fps_cat = [], [], Counter()
    ds_fn_kind = Counter()
    seeds_out = []
    neg_total = 0
    with tempfile.TemporaryDirectory(prefix="keyturn-blind-", dir="/tmp") as tmp:
        for seed in a.seeds:
            out = Path(tmp) / f"seed{seed}"
            stats = corpus.generate(out, seed, a.scale)
            tree = out / "tree"
            labels = json.loads((out / "labels.json").read_text())
            negs = json.loads((out / "negatives.json").read_text())
            neg_at = {(x["path"], x["line"]): x["category"] for x in negs}
            neg_total += len(negs)
            kt, kt_s = run_keyturn(tree)
            ds, ds_s = run_ds(tree)
            kt_hit, kt_fp = score_keyturn(labels, kt)
            ds_hit, ds_fp = score_ds(labels, ds)
            ktl_hit, ktl_fp = score_ds(labels, [{**f, "type": f["detector"]} for f in kt])
            tot["ktl_tp"] += len(ktl_hit)
            tot["ktl_fp"] += len(ktl_fp)
            for i, lab in enumerate(labels):
                c = per_kind[lab["kind"]]
                c["n"] += 1
                c["kt_tp"] += i in kt_hit
                c["ds_tp"] += i in ds_hit
                if i not in kt_hit:
                    txt = line_text(tree, lab["path"], lab["line"]).replace(lab["value"], "<redacted>")
                    kt_fns.append({"seed": seed, "path": lab["path"], "line": lab["line"], "kind": lab["kind"],
                                   "text": clip(txt)})
                if i not in ds_hit:
                    ds_fn_kind[lab["kind"]] += 1
            for f in kt_fp:
                per_kind[f["kind"]]["kt_fp"] += 1
                txt = line_text(tree, f["path"], f["line"])
                if f["column"] and f["end_column"]:
                    txt = txt[: f["column"] - 1] + "<redacted>" + txt[f["end_column"] - 1:]
                kt_fps.append({"seed": seed, "path": f["path"], "line": f["line"], "kind": f["kind"],
                               "kind_mismatch_with": f["kind_mismatch_with"],
                               "negative_category": neg_at.get((f["path"], f["line"])), "text": clip(txt)})
            for f in ds_fp:
                ds_fps_cat[neg_at.get((f["path"], f["line"]), "unplanted line")] += 1
            tot["kt_tp"] += len(kt_hit)
            tot["kt_fp"] += len(kt_fp)
            tot["ds_tp"] += len(ds_hit)
            tot["ds_fp"] += len(ds_fp)
            tot["n"] += len(labels)
            seeds_out.append({"seed": seed, **stats,
                              "keyturn": {**prf(len(kt_hit), len(kt_fp), len(labels) - len(kt_hit)), "seconds": round(kt_s, 3)},
                              "detect_secrets": {**prf(len(ds_hit), len(ds_fp), len(labels) - len(ds_hit)), "seconds": round(ds_s, 3)}})

    overall = {"keyturn": prf(tot["kt_tp"], tot["kt_fp"], tot["n"] - tot["kt_tp"]),
               "keyturn_location_only": prf(tot["ktl_tp"], tot["ktl_fp"], tot["n"] - tot["ktl_tp"]),
               "detect_secrets": prf(tot["ds_tp"], tot["ds_fp"], tot["n"] - tot["ds_tp"])}
    kinds = {}
    for k in corpus.KINDS:
        c = per_kind[k]
        kinds[k] = {"labels": c["n"], "keyturn": prf(c["kt_tp"], c["kt_fp"], c["n"] - c["kt_tp"]),
                    "detect_secrets_recall": round(c["ds_tp"] / c["n"], 4) if c["n"] else None}
    extra_fp_kinds = sorted(set(per_kind) - set(corpus.KINDS))

    # ---- report
    print(f"corpus: seeds {a.seeds}, scale {a.scale}: "
          f"{sum(s['files'] for s in seeds_out)} files, {sum(s['bytes'] for s in seeds_out) / 1e6:.2f} MB, "
          f"{tot['n']} positives, {neg_total} planted hard negatives\n")
    print("| tool | TP | FP | FN | precision | recall | F1 |\n|---|---:|---:|---:|---:|---:|---:|")
    for name, v in (("keyturn (path, line, kind)", overall["keyturn"]),
                    ("keyturn (path, line) — as detect-secrets", overall["keyturn_location_only"]),
                    ("detect-secrets 1.5.0 (path, line)", overall["detect_secrets"])):
        print(f"| {name} | {v['tp']} | {v['fp']} | {v['fn']} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} |")
    print("\n| seed | files | MB | positives | keyturn P / R | detect-secrets P / R | keyturn s | detect-secrets s |")
    print("|---|---:|---:|---:|---|---|---:|---:|")
    for s in seeds_out:
        print(f"| {s['seed']} | {s['files']} | {s['bytes'] / 1e6:.2f} | {s['positives']} | "
              f"{s['keyturn']['precision']:.3f} / {s['keyturn']['recall']:.3f} | "
              f"{s['detect_secrets']['precision']:.3f} / {s['detect_secrets']['recall']:.3f} | "
              f"{s['keyturn']['seconds']:.2f} | {s['detect_secrets']['seconds']:.2f} |")
    print("\n| kind | labels | keyturn TP | keyturn FP | keyturn FN | keyturn P | keyturn R | detect-secrets R |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for k, v in kinds.items():
        kt = v["keyturn"]
        print(f"| {k} | {v['labels']} | {kt['tp']} | {kt['fp']} | {kt['fn']} | {kt['precision']:.3f} | "
              f"{kt['recall']:.3f} | {v['detect_secrets_recall']:.3f} |")
    for k in extra_fp_kinds:
        print(f"| {k} (not a label kind) | 0 | 0 | {per_kind[k]['kt_fp']} | 0 | 0.000 | – | – |")
    print(f"\nkeyturn false negatives ({len(kt_fns)}):")
    for x in kt_fns:
        print(f"  FN {x['kind']:18} {x['path']}:{x['line']}  {x['text']}")
    print(f"\nkeyturn false positives ({len(kt_fps)}):")
    for x in kt_fps:
        why = (f"kind mismatch (label {x['kind_mismatch_with']})" if x["kind_mismatch_with"]
               else f"negative:{x['negative_category'] or 'unplanted line'}")
        print(f"  FP {x['kind']:18} {x['path']}:{x['line']}  [{why}]  {x['text']}")
    print(f"\ndetect-secrets FP lines by planted category: {dict(ds_fps_cat.most_common())}")
    print(f"detect-secrets FN by kind: {dict(ds_fn_kind.most_common())}")

    date = dt.datetime.now(dt.timezone.utc)
    res = {"date": date.isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
           "seeds": a.seeds, "scale": a.scale, "hard_negatives": neg_total, "per_seed": seeds_out,
           "overall": overall, "per_kind": kinds,
           "keyturn_fp_non_label_kinds": {k: per_kind[k]["kt_fp"] for k in extra_fp_kinds},
           "keyturn_false_negatives": kt_fns, "keyturn_false_positives": kt_fps,
           "detect_secrets_fp_by_category": dict(ds_fps_cat), "detect_secrets_fn_by_kind": dict(ds_fn_kind)}
    path = Path(a.json) if a.json else ROOT / "bench" / "results" / f"scan-blind-{date.date().isoformat()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=1) + "\n")
    print(f"\nwrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
