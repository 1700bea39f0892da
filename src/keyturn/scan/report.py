"""Render scan results: text and JSON for stdout, and GitHub Actions annotations/summary.

Every renderer works from :class:`~keyturn.scan.model.Finding` records, which hold no
value: output names the detector, path, line and column, for a history finding the
commit and author date, and for a live credential the managed secret's name and the
emergency-rotation command. Paths are untrusted (whoever committed the file chose the
name): text, annotations and the step summary print them through
:func:`keyturn.scan.safetext.display_path`, JSON and SARIF are escaped by the encoder
and :func:`~keyturn.scan.safetext.neutralise_json`, so no output carries a workflow
command. The JSON shape is a contract (``version: 1``) used by the benchmark; keys are
only ever added (``commit``/``author_date`` on history findings). Imports the stdlib,
:mod:`keyturn.gha` and keyturn.scan; never stores, targets or SDKs.
"""

from __future__ import annotations

import json
from typing import Any

from keyturn import gha
from keyturn.scan.engine import all_detectors
from keyturn.scan.history import HistoryResult, origin_of
from keyturn.scan.live import rotate_hint
from keyturn.scan.model import Finding, ScanResult
from keyturn.scan.safetext import display_path, neutralise_json
from keyturn.scan.sarif import to_sarif


def _titles() -> dict[str, str]:
    return {d.id: d.title for d in all_detectors()}


def _sorted(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.path, f.line, f.column, f.detector))


def _finding_json(result: ScanResult, f: Finding) -> dict[str, Any]:
    doc = f.to_json()
    origin = origin_of(result, f)
    if origin is not None:
        doc.update(origin.to_json())
    return doc


def to_json(result: ScanResult) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": 1,
        "findings": [_finding_json(result, f) for f in _sorted(result.findings)],
        "summary": result.summary.to_json(),
    }
    if isinstance(result, HistoryResult):
        doc["history"] = {"range": result.rev_range, "commits": result.commits}
    return doc


def to_text(result: ScanResult) -> str:
    titles = _titles()
    lines: list[str] = []
    for f in _sorted(result.findings):
        state = "baseline" if f.in_baseline else "NEW"
        path = display_path(f.path)
        msg = f"{path}:{f.line}:{f.column}: {f.rule} [{state}] {titles.get(f.detector, f.detector)}"
        origin = origin_of(result, f)
        if origin is not None:
            msg += f" — {origin.note()}"
        if f.live is not None:
            msg += f" — matches {display_path(f.live.secret)} ({f.live.version}): {rotate_hint(f.live.secret, f.path)}"
        lines.append(msg)
    s = result.summary
    where = f"{s.files_scanned} file(s)"
    if isinstance(result, HistoryResult):
        where += f" and {result.commits} commit(s) of {display_path(result.rev_range)}"
    lines.append(
        f"keyturn scan: {s.findings} finding(s), {s.new_findings} new, in {where} "
        f"({s.bytes_scanned} bytes, {s.seconds:.2f}s)"
    )
    return "\n".join(lines) + "\n"


def render(result: ScanResult, fmt: str) -> str:
    if fmt == "text":
        return to_text(result)
    if fmt == "json":
        return neutralise_json(json.dumps(to_json(result), indent=2)) + "\n"
    if fmt == "sarif":
        return neutralise_json(json.dumps(to_sarif(result), indent=2)) + "\n"
    raise ValueError(f"unknown format {fmt!r}")


def _md(text: str) -> str:
    """Text for a Markdown table cell inside a code span (already free of control characters)."""
    return display_path(text).replace("|", "\\|").replace("`", "'")


def report_to_actions(result: ScanResult, limit: int = 50) -> None:
    """``::error`` annotations for new findings and a step-summary table (Actions only)."""
    if not gha.in_actions():
        return
    titles = _titles()
    new = _sorted(result.new_findings)
    for f in new[:limit]:
        title = f"keyturn: {titles.get(f.detector, f.detector)}"
        msg = f"{f.rule}: {titles.get(f.detector, f.detector)} in {display_path(f.path)}."
        origin = origin_of(result, f)
        if origin is not None:
            msg += f" It is {origin.note()}."
        if f.live is not None:
            msg += (
                f" Matches managed secret {display_path(f.live.secret)} ({f.live.version}) — "
                f"{rotate_hint(f.live.secret, f.path)}"
            )
        gha.annotation("error", msg, file=f.path, line=f.line, title=title)
    s = result.summary
    rows = [
        "## keyturn secret scan",
        "",
        f"{s.new_findings} new finding(s) ({s.findings} total) in {s.files_scanned} file(s), {s.seconds:.2f}s.",
        "",
    ]
    if result.findings:
        rows += [
            "| Rule | File | Line | State | Commit | Live secret |",
            "| --- | --- | ---: | --- | --- | --- |",
        ]
        for f in _sorted(result.findings)[:500]:
            live = f"`{_md(f.live.secret)}` ({f.live.version})" if f.live else ""
            state = "baseline" if f.in_baseline else "**new**"
            origin = origin_of(result, f)
            commit = f"`{origin.commit[:12]}` (history: rotate)" if origin else ""
            rows.append(f"| `{f.rule}` | `{_md(f.path)}` | {f.line} | {state} | {commit} | {live} |")
        if len(result.findings) > 500:
            rows.append(
                f"\n{len(result.findings) - 500} more finding(s) not shown; see the SARIF/JSON output."
            )
    gha.append_summary("\n".join(rows) + "\n")
