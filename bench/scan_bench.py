"""Benchmark ``keyturn scan`` against ``detect-secrets scan --all-files``.

Two parts, both in one run on the same machine:

1. **Quality** on the labelled corpus from ``bench/scan_corpus.py``:
   precision / recall / F1 overall and per kind for both tools.
2. **Throughput and peak memory** on a copy of the installed ``botocore`` and
   ``django`` packages (``__pycache__`` left out), both tools scanning the
   same files, a fixed number of repeats, medians.

Usage (from the repository root)::

    .venv/bin/python bench/scan_bench.py                      # everything
    .venv/bin/python bench/scan_bench.py --skip-throughput    # quality only
    .venv/bin/python bench/scan_bench.py --keyturn-cmd "..."  # other scanner

Prints markdown tables and writes ``bench/results/scan-<UTC date>.json``.
See ``bench/README.md`` for what exactly is measured.

``--stand-in-scan PATH`` turns this script into a tiny regex scanner that
speaks keyturn's JSON output format; it exists only to test the harness
while the real scanner is not available.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV_PY = REPO / ".venv" / "bin" / "python"
PY = str(VENV_PY if VENV_PY.exists() else Path(sys.executable))
DS_BIN = str(REPO / ".venv" / "bin" / "detect-secrets")
KEYTURN_CMD = [PY, "-c", "import sys; from keyturn.cli import main; sys.exit(main())", "scan"]

# detect-secrets secret_type -> corpus kind (None: kind-agnostic heuristics)
DS_TYPE_TO_KIND = {
    "GitHub Token": "github-token",
    "GitLab Token": "gitlab-token",
    "Slack Token": "slack-token",  # SlackDetector also matches webhooks, see ds_kind()
    "Stripe Access Key": "stripe-key",
    "OpenAI Token": "openai-key",
    "AWS Access Key": "aws-access-key",
    "Azure Storage Account access key": "azure-storage-key",
    "NPM tokens": "npm-token",
    "PyPI Token": "pypi-token",
    "Private Key": "private-key",
    "JSON Web Token": "jwt",
    "Basic Auth Credentials": "url-credentials",
    "Secret Keyword": "keyword",
    "Base64 High Entropy String": "entropy",
    "Hex High Entropy String": "entropy",
}
# kinds for which detect-secrets has a dedicated plugin
DS_DEDICATED = {"github-token", "gitlab-token", "slack-token", "slack-webhook", "stripe-key",
                "openai-key", "aws-access-key", "azure-storage-key", "npm-token", "pypi-token",
                "private-key", "jwt", "url-credentials"}


def load_corpus_module():
    spec = importlib.util.spec_from_file_location("scan_corpus", HERE / "scan_corpus.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["scan_corpus"] = mod
    spec.loader.exec_module(mod)
    return mod


# --------------------------------------------------------------------------
# running a tool with wall time and peak RSS
# --------------------------------------------------------------------------

# Runs in a fresh interpreter per measured run, so RUSAGE_CHILDREN only
# covers the tool's own process tree.  tree_peak_rss is the sampled (20 ms)
# sum of RSS over the tool process and all its descendants.
_WRAPPER = r"""
import json, resource, subprocess, sys, time
try:
    import psutil
except ImportError:
    psutil = None
argv = json.loads(sys.argv[1]); cwd = sys.argv[2]; out = sys.argv[3]
peak = 0
with open(out, "wb") as fo, open(out + ".err", "wb") as fe:
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, cwd=cwd, stdout=fo, stderr=fe)
    pp = psutil.Process(p.pid) if psutil else None
    while True:
        try:
            p.wait(timeout=0.02)
            break
        except subprocess.TimeoutExpired:
            pass
        if pp is not None:
            try:
                rss = pp.memory_info().rss
                for c in pp.children(recursive=True):
                    try:
                        rss += c.memory_info().rss
                    except psutil.Error:
                        pass
                peak = max(peak, rss)
            except psutil.Error:
                pass
    dt = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": p.returncode, "seconds": dt, "ru_maxrss_kb": ru.ru_maxrss,
                  "tree_peak_rss": peak, "cpu_seconds": ru.ru_utime + ru.ru_stime}))
"""


def measured_run(argv: list[str], cwd: Path, env: dict | None = None) -> tuple[dict, bytes, bytes]:
    with tempfile.TemporaryDirectory(prefix="ktbench-") as td:
        out = os.path.join(td, "out")
        r = subprocess.run([PY, "-c", _WRAPPER, json.dumps(argv), str(cwd), out],
                           capture_output=True, env=env, check=True)
        stats = json.loads(r.stdout)
        stats["peak_rss_mb"] = max(stats["ru_maxrss_kb"] * 1024, stats["tree_peak_rss"]) / 2**20
        with open(out, "rb") as f:
            stdout = f.read()
        with open(out + ".err", "rb") as f:
            stderr = f.read()
    return stats, stdout, stderr


class Tool:
    name = ""

    def argv(self, path: Path) -> list[str]:
        raise NotImplementedError

    def cwd(self, path: Path) -> Path:
        return path

    def env(self) -> dict:
        return dict(os.environ)

    def parse(self, stdout: bytes) -> list[dict]:
        """-> [{"path", "line", "kind", "type"}]"""
        raise NotImplementedError

    def run(self, path: Path) -> tuple[dict, list[dict]]:
        stats, out, err = measured_run(self.argv(path), self.cwd(path), self.env())
        if stats["rc"] not in self.ok_codes:
            raise RuntimeError("%s exited %s: %s" % (self.name, stats["rc"], err.decode(errors="replace")[-2000:]))
        return stats, self.parse(out)


class Keyturn(Tool):
    name = "keyturn"
    ok_codes = (0, 1)

    def __init__(self, cmd: list[str] | None = None):
        self.cmd = cmd or KEYTURN_CMD

    def argv(self, path):
        return self.cmd + [str(path), "--format", "json"]

    def env(self):
        e = dict(os.environ)
        e["PYTHONPATH"] = str(REPO / "src") + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
        return e

    def parse(self, stdout):
        data = json.loads(stdout)
        self.summary = data.get("summary", {})
        return [{"path": f["path"], "line": f["line"], "kind": f["detector"], "type": f["detector"]}
                for f in data["findings"]]


class DetectSecrets(Tool):
    name = "detect-secrets"
    ok_codes = (0,)

    def argv(self, path):
        # detect-secrets only yields files under its root (= cwd), so scan "."
        # from inside the tree; -n / --no-verify: never call out to the network.
        return [DS_BIN, "scan", "--all-files", "--no-verify", "."]

    def parse(self, stdout):
        data = json.loads(stdout)
        self.meta = {k: v for k, v in data.items() if k != "results"}
        out = []
        for path, items in data["results"].items():
            p = path[2:] if path.startswith("./") else path
            for it in items:
                out.append({"path": p, "line": it["line_number"], "type": it["type"],
                            "kind": DS_TYPE_TO_KIND.get(it["type"], "other")})
        return out


# --------------------------------------------------------------------------
# quality scoring
# --------------------------------------------------------------------------

def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def neg_index(labels: dict) -> dict:
    idx = defaultdict(list)
    for n in labels["negatives"]:
        idx[n["path"]].append(n)
    return idx


def classify_fp(path: str, line: int, negs: dict, pos_at: dict) -> str:
    for n in negs.get(path, ()):
        if n["line"] <= line <= n["end_line"]:
            return "neg:" + n["type"]
    if (path, line) in pos_at:
        return "wrong-kind-at:" + pos_at[(path, line)][0]
    return "unlabelled-line"


def score_keyturn(findings: list[dict], labels: dict) -> dict:
    """Strict: TP needs (path, line, kind) to match a label."""
    from scan_corpus import KINDS  # noqa: E402  (loaded by load_corpus_module)

    lab = {(p["path"], p["line"], p["kind"]): p for p in labels["positives"]}
    pos_at = defaultdict(list)
    for p in labels["positives"]:
        pos_at[(p["path"], p["line"])].append(p["kind"])
    negs = neg_index(labels)
    found = {}
    dups = 0
    for f in findings:
        k = (f["path"], f["line"], f["kind"])
        if k in found:
            dups += 1
        found[k] = f
    tp = {k for k in found if k in lab}
    fp = [k for k in found if k not in lab]
    fn = [k for k in lab if k not in found]
    per_kind = {}
    kinds = list(KINDS) + sorted({k[2] for k in fp} - set(KINDS))
    for kind in kinds:
        per_kind[kind] = prf(sum(1 for k in tp if k[2] == kind), sum(1 for k in fp if k[2] == kind),
                             sum(1 for k in fn if k[2] == kind))
    # location-only view (any detector at a labelled line), comparable with detect-secrets
    lines_found = {(k[0], k[1]) for k in found}
    loc_tp = sum(1 for k in pos_at if k in lines_found)
    loc_fp = sum(1 for k in lines_found if k not in pos_at)
    fp_list = [{"path": k[0], "line": k[1], "kind": k[2], "why": classify_fp(k[0], k[1], negs, pos_at)}
               for k in sorted(fp)]
    lines_any = defaultdict(set)
    for k in found:
        lines_any[(k[0], k[1])].add(k[2])
    fn_list = [{"path": k[0], "line": k[1], "kind": k[2],
                "reported_as": sorted(lines_any.get((k[0], k[1]), ()))}
               for k in sorted(fn)]
    return {
        "overall": prf(len(tp), len(fp), len(fn)),
        "location_only": prf(loc_tp, loc_fp, len(pos_at) - loc_tp),
        "per_kind": per_kind,
        "duplicate_findings": dups,
        "fp_by_reason": dict(Counter(x["why"] for x in fp_list).most_common()),
        "false_positives": fp_list,
        "false_negatives": fn_list,
    }


def score_ds(findings: list[dict], labels: dict) -> dict:
    """Location-based: a finding on a labelled line is a TP whatever its type.

    Counting unit is the (path, line) pair (several plugins on one line count once).
    """
    from scan_corpus import KINDS  # noqa: E402

    pos_at = defaultdict(list)
    for p in labels["positives"]:
        pos_at[(p["path"], p["line"])].append(p["kind"])
    negs = neg_index(labels)
    by_line = defaultdict(set)
    types_by_line = defaultdict(set)
    for f in findings:
        by_line[(f["path"], f["line"])].add(f["kind"])
        types_by_line[(f["path"], f["line"])].add(f["type"])
    tp_lines = [k for k in by_line if k in pos_at]
    fp_lines = [k for k in by_line if k not in pos_at]
    n_labels = len(labels["positives"])
    tp_labels = sum(len(pos_at[k]) for k in tp_lines)
    per_kind = {}
    for kind in KINDS:
        labs = [p for p in labels["positives"] if p["kind"] == kind]
        any_hit = sum(1 for p in labs if (p["path"], p["line"]) in by_line)
        want = "slack-token" if kind == "slack-webhook" else kind
        spec_hit = sum(1 for p in labs if want in by_line.get((p["path"], p["line"]), ()))
        spec_fp = sum(1 for k in fp_lines if want in by_line[k]) if kind in DS_DEDICATED else None
        per_kind[kind] = {
            "labels": len(labs),
            "recall_any_plugin": round(any_hit / len(labs), 4) if labs else None,
            "recall_dedicated_plugin": (round(spec_hit / len(labs), 4) if kind in DS_DEDICATED else None),
            "fp_lines_dedicated_plugin": spec_fp,
        }
    fp_list = []
    for k in sorted(fp_lines):
        fp_list.append({"path": k[0], "line": k[1], "types": sorted(types_by_line[k]),
                        "why": classify_fp(k[0], k[1], negs, pos_at)})
    fn_list = [{"path": k[0], "line": k[1], "kinds": v} for k, v in sorted(pos_at.items()) if k not in by_line]
    return {
        "overall": prf(tp_labels, len(fp_lines), n_labels - tp_labels),
        "per_kind": per_kind,
        "fp_by_reason": dict(Counter(x["why"] for x in fp_list).most_common()),
        "fp_by_type": dict(Counter(t for x in fp_list for t in x["types"]).most_common()),
        "false_positives": fp_list,
        "false_negatives": fn_list,
    }


# --------------------------------------------------------------------------
# throughput tree
# --------------------------------------------------------------------------

def is_text(p: Path) -> bool:
    with open(p, "rb") as f:
        return b"\0" not in f.read()


def tree_stats(root: Path) -> dict:
    files = [p for p in sorted(root.rglob("*")) if p.is_file()]
    text = [p for p in files if is_text(p)]
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files),
            "text_files": len(text), "text_bytes": sum(p.stat().st_size for p in text)}


def build_real_tree(dest: Path) -> Path:
    import botocore  # noqa: F401
    import django  # noqa: F401

    full = dest / "full"
    if full.exists():
        return full
    for mod in (botocore, django):
        src = Path(mod.__file__).resolve().parent
        shutil.copytree(src, full / src.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return full


def build_subset(full: Path, dest: Path, k: int) -> Path:
    """Every k-th file (sorted relative paths) of ``full``: deterministic."""
    sub = dest / ("subset-k%d" % k)
    if sub.exists():
        return sub
    files = sorted(p.relative_to(full).as_posix() for p in full.rglob("*") if p.is_file())
    for rel in files[::k]:
        (sub / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(full / rel, sub / rel)
    return sub


def throughput(tools_runs: list[tuple[Tool, int]], tree: Path, log) -> dict:
    st = tree_stats(tree)
    runs = {t.name: [] for t, _ in tools_runs}
    finding_counts = {}
    findings_seen = {}
    n_max = max(n for _, n in tools_runs)
    for i in range(n_max):  # interleave the tools so machine noise hits both
        for tool, n in tools_runs:
            if i >= n:
                continue
            stats, findings = tool.run(tree)
            stats["findings"] = len(findings)
            runs[tool.name].append(stats)
            finding_counts[tool.name] = len(findings)
            findings_seen[tool.name] = findings
            log("  %-15s run %d/%d: %.2fs, peak %.0f MB, %d findings"
                % (tool.name, i + 1, n, stats["seconds"], stats["peak_rss_mb"], len(findings)))
            if isinstance(tool, Keyturn):
                stats["summary"] = getattr(tool, "summary", {})
    res = {"tree": str(tree), **st, "tools": {}}
    for tool, n in tools_runs:
        rs = runs[tool.name]
        med = statistics.median(r["seconds"] for r in rs)
        res["tools"][tool.name] = {
            "repeats": n,
            "seconds": [round(r["seconds"], 3) for r in rs],
            "median_seconds": round(med, 3),
            "mb_per_s_text": round(st["text_bytes"] / 1e6 / med, 3),
            "mb_per_s_all": round(st["bytes"] / 1e6 / med, 3),
            "peak_rss_mb_max": round(max(r["peak_rss_mb"] for r in rs), 1),
            "peak_rss_mb_median": round(statistics.median(r["peak_rss_mb"] for r in rs), 1),
            "cpu_seconds_median": round(statistics.median(r["cpu_seconds"] for r in rs), 3),
            "findings": finding_counts[tool.name],
            "runs": [{k: r[k] for k in ("seconds", "ru_maxrss_kb", "tree_peak_rss", "cpu_seconds", "rc")} for r in rs],
            "finding_list": [{"path": f["path"], "line": f["line"], "type": f["type"]}
                             for f in findings_seen[tool.name]][:500],
        }
        if rs and "summary" in rs[-1]:
            res["tools"][tool.name]["summary"] = rs[-1]["summary"]
    names = [t.name for t, _ in tools_runs]
    if "keyturn" in names and "detect-secrets" in names:
        res["speedup_keyturn_vs_ds"] = round(res["tools"]["detect-secrets"]["median_seconds"]
                                             / res["tools"]["keyturn"]["median_seconds"], 2)
    return res


# --------------------------------------------------------------------------
# reporting
# --------------------------------------------------------------------------

def md_quality(q: dict) -> str:
    from scan_corpus import KINDS  # noqa: E402

    kt, ds = q.get("keyturn"), q["detect-secrets"]
    out = ["### Quality on the labelled corpus", ""]
    out.append("| tool | TP | FP | FN | precision | recall | F1 |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    if kt:
        o = kt["overall"]
        out.append("| keyturn (strict: path+line+kind) | %d | %d | %d | %.3f | %.3f | %.3f |" % (o["tp"], o["fp"], o["fn"], o["precision"], o["recall"], o["f1"]))
        o = kt["location_only"]
        out.append("| keyturn (location only) | %d | %d | %d | %.3f | %.3f | %.3f |" % (o["tp"], o["fp"], o["fn"], o["precision"], o["recall"], o["f1"]))
    o = ds["overall"]
    out.append("| detect-secrets (location only) | %d | %d | %d | %.3f | %.3f | %.3f |" % (o["tp"], o["fp"], o["fn"], o["precision"], o["recall"], o["f1"]))
    out += ["", "| kind | labels | keyturn TP | FP | FN | P | R | detect-secrets R (any plugin) | R (dedicated plugin) | FP lines (dedicated plugin) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for kind in KINDS:
        d = ds["per_kind"][kind]
        if kt:
            k = kt["per_kind"][kind]
            ktcols = "%d | %d | %d | %.3f | %.3f" % (k["tp"], k["fp"], k["fn"], k["precision"], k["recall"])
        else:
            ktcols = "- | - | - | - | -"
        dd = "%.3f" % d["recall_dedicated_plugin"] if d["recall_dedicated_plugin"] is not None else "n/a"
        fpd = str(d["fp_lines_dedicated_plugin"]) if d["fp_lines_dedicated_plugin"] is not None else "n/a"
        out.append("| %s | %d | %s | %.3f | %s | %s |" % (kind, d["labels"], ktcols, d["recall_any_plugin"], dd, fpd))
    if kt:
        extra = [k for k in kt["per_kind"] if k not in KINDS]
        for kind in extra:
            k = kt["per_kind"][kind]
            out.append("| %s (not a corpus kind) | 0 | %d | %d | %d | - | - | | | |" % (kind, k["tp"], k["fp"], k["fn"]))
    out += ["", "False positives by reason:", "", "| reason | keyturn | detect-secrets (lines) |", "|---|---:|---:|"]
    reasons = sorted(set(ds["fp_by_reason"]) | set(kt["fp_by_reason"] if kt else ()))
    for r in reasons:
        out.append("| %s | %s | %s |" % (r, kt["fp_by_reason"].get(r, 0) if kt else "-", ds["fp_by_reason"].get(r, 0)))
    return "\n".join(out)


def md_throughput(t: dict, title: str) -> str:
    out = ["### %s" % title, "",
           "%d files, %.1f MB (%d text files, %.1f MB text)" % (t["files"], t["bytes"] / 1e6, t["text_files"], t["text_bytes"] / 1e6), "",
           "| tool | repeats | median s | MB/s (text bytes) | MB/s (all bytes) | peak RSS MB (max of runs) | CPU s (median) | findings |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in t["tools"].items():
        out.append("| %s | %d | %.2f | %.2f | %.2f | %.0f | %.2f | %d |" % (
            name, r["repeats"], r["median_seconds"], r["mb_per_s_text"], r["mb_per_s_all"],
            r["peak_rss_mb_max"], r["cpu_seconds_median"], r["findings"]))
    if "speedup_keyturn_vs_ds" in t:
        out += ["", "keyturn speed-up over detect-secrets (ratio of medians, same run): **%.1f×**" % t["speedup_keyturn_vs_ds"]]
    return "\n".join(out)


def machine() -> dict:
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import version

    return {"cpus": os.cpu_count(), "cpu_model": cpu, "python": platform.python_version(),
            "platform": platform.platform(), "detect_secrets": version("detect-secrets")}


# --------------------------------------------------------------------------
# stand-in scanner (harness self-test only)
# --------------------------------------------------------------------------

_STANDIN = {
    "github-token": r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b",
    "aws-access-key": r"\b(?:AKIA|ASIA)[A-Z2-7]{16}\b",
    "private-key": r"-----BEGIN (?:RSA |EC |OPENSSH |ENCRYPTED )?PRIVATE KEY-----",
}


def stand_in_scan(root: str) -> int:
    rx = {k: re.compile(v) for k, v in _STANDIN.items()}
    findings, nbytes, nfiles = [], 0, 0
    t0 = time.perf_counter()
    for dp, dns, fns in os.walk(root):
        dns.sort()
        for fn in sorted(fns):
            p = os.path.join(dp, fn)
            with open(p, "rb") as f:
                data = f.read()
            nfiles += 1
            nbytes += len(data)
            if b"\0" in data:
                continue
            for i, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
                for k, r in rx.items():
                    for m in r.finditer(line):
                        if "EXAMPLE" in m.group(0) or m.group(0).count("X") > 8:
                            continue
                        findings.append({"rule": "keyturn/" + k, "detector": k,
                                         "path": os.path.relpath(p, root).replace(os.sep, "/"),
                                         "line": i, "column": m.start() + 1, "end_line": i,
                                         "end_column": m.end() + 1, "fingerprint": "", "live_secret": None})
    print(json.dumps({"version": 1, "findings": findings,
                      "summary": {"files_scanned": nfiles, "bytes_scanned": nbytes, "findings": len(findings),
                                  "new_findings": len(findings), "seconds": time.perf_counter() - t0}}))
    return 1 if findings else 0


# --------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--stand-in-scan":
        return stand_in_scan(argv[1])
    ap = argparse.ArgumentParser(description="keyturn scan vs detect-secrets benchmark")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "keyturn-scan-bench",
                    help="scratch dir for the corpus and the copied real tree")
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--scale", type=int, default=1)
    ap.add_argument("--keyturn-cmd", help="command prefix instead of `keyturn scan` (shell words)")
    ap.add_argument("--no-keyturn", action="store_true", help="detect-secrets only")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--kt-runs", type=int, default=5)
    ap.add_argument("--ds-runs", type=int, default=3)
    ap.add_argument("--subset-k", type=int, default=1,
                    help="the comparison tree is every k-th file of the full tree (1 = full tree)")
    ap.add_argument("--ds-full", action="store_true",
                    help="also run detect-secrets (ds-runs times) on the full tree")
    ap.add_argument("--holdout-seeds", default="5,6,7,8,9,10",
                    help="comma-separated extra corpus seeds scored for keyturn only ('' = none)")
    ap.add_argument("--results", type=Path, default=None, help="results JSON path")
    a = ap.parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    load_corpus_module()
    import scan_corpus

    a.work.mkdir(parents=True, exist_ok=True)
    date = _dt.datetime.now(_dt.timezone.utc)
    results: dict = {"date": date.isoformat(timespec="seconds"), "machine": machine(),
                     "settings": {"seed": a.seed, "scale": a.scale, "kt_runs": a.kt_runs, "ds_runs": a.ds_runs,
                                  "subset_k": a.subset_k}}
    # which scanner code was measured (the tree may be uncommitted while it is being built)
    import hashlib

    h = hashlib.sha256()
    for f in sorted((REPO / "src" / "keyturn" / "scan").glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    results["keyturn_scan_src_sha256"] = h.hexdigest()
    tools: list[Tool] = []
    kt = None
    if not a.no_keyturn:
        kt = Keyturn(shlex.split(a.keyturn_cmd) if a.keyturn_cmd else None)
        tools.append(kt)
        results["keyturn_cmd"] = kt.cmd
    ds = DetectSecrets()
    tools.append(ds)
    md = []

    if not a.skip_quality:
        cdir = a.work / ("corpus-s%d-x%d" % (a.seed, a.scale))
        log("generating corpus in %s" % cdir)
        labels = scan_corpus.generate(cdir, a.seed, a.scale)
        tree = cdir / "tree"
        results["corpus"] = {"files": labels["files"], "bytes": labels["bytes"],
                             "positives": len(labels["positives"]), "negatives": len(labels["negatives"]),
                             "positives_by_kind": dict(Counter(p["kind"] for p in labels["positives"])),
                             "negatives_by_type": dict(Counter(n["type"] for n in labels["negatives"])),
                             "tree_sha256": scan_corpus.tree_digest(tree)}
        q = {}
        for tool in tools:
            log("quality: %s on corpus" % tool.name)
            stats, findings = tool.run(tree)
            q[tool.name] = (score_keyturn if tool is kt else score_ds)(findings, labels)
            q[tool.name]["seconds"] = round(stats["seconds"], 3)
            q[tool.name]["findings"] = len(findings)
        if ds.meta:
            results["detect_secrets_filters"] = [f["path"] for f in ds.meta.get("filters_used", [])]
            # --no-verify must have removed the network verification filter
            assert not any("verification" in f for f in results["detect_secrets_filters"]), results["detect_secrets_filters"]
        results["quality"] = q
        md.append(md_quality(q))
        if kt is not None and a.holdout_seeds:
            # other seeds: same templates, new values and placements; keyturn only (seconds each)
            hold = {}
            for seed in [int(x) for x in a.holdout_seeds.split(",") if x.strip()]:
                hdir = a.work / ("corpus-s%d-x%d" % (seed, a.scale))
                hl = scan_corpus.generate(hdir, seed, a.scale)
                _, hf = kt.run(hdir / "tree")
                sc = score_keyturn(hf, hl)
                hold[seed] = {"overall": sc["overall"], "fp_by_reason": sc["fp_by_reason"],
                              "false_positives": sc["false_positives"], "false_negatives": sc["false_negatives"]}
                log("holdout seed %d: %s" % (seed, sc["overall"]))
            results["quality_other_seeds"] = hold
            rows = ["### keyturn on corpora from other seeds (strict)", "",
                    "| seed | TP | FP | FN | precision | recall | F1 |", "|---:|---:|---:|---:|---:|---:|---:|"]
            for seed, h in hold.items():
                o = h["overall"]
                rows.append("| %d | %d | %d | %d | %.3f | %.3f | %.3f |" % (seed, o["tp"], o["fp"], o["fn"], o["precision"], o["recall"], o["f1"]))
            md.append("\n".join(rows))

    if not a.skip_throughput:
        full = build_real_tree(a.work / "real")
        k = max(1, a.subset_k)
        sub = full if k == 1 else build_subset(full, a.work / "real", k)
        tp = {}
        log("throughput: comparison tree %s" % sub)
        tp["comparison"] = throughput([(t, a.kt_runs if t is kt else a.ds_runs) for t in tools], sub, log)
        tp["comparison"]["subset_k"] = k
        md.append(md_throughput(tp["comparison"], "Throughput: both tools, %s" % (
            "full botocore+django tree" if k == 1 else "every %d-th file of botocore+django" % k)))
        if k != 1:
            full_tools = [(kt, a.kt_runs)] if kt else []
            if a.ds_full:
                full_tools.append((ds, a.ds_runs))
            if full_tools:
                log("throughput: full tree %s" % full)
                tp["full"] = throughput(full_tools, full, log)
                md.append(md_throughput(tp["full"], "Throughput: full botocore+django tree"))
        results["throughput"] = tp

    text = "\n\n".join(md)
    print("# keyturn scan benchmark — %s\n" % results["date"])
    m = results["machine"]
    print("machine: %s CPUs (%s), Python %s, detect-secrets %s\n" % (m["cpus"], m["cpu_model"], m["python"], m["detect_secrets"]))
    print(text)
    out = a.results or (HERE / "results" / ("scan-%s.json" % date.strftime("%Y-%m-%d")))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    log("wrote %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
