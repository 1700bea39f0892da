"""``keyturn doctor``: a read-only health report of every managed secret.

For each secret it looks for what needs a person: live versions that should have been
revoked (due in the journal, or created outside the lifecycle), in-flight or stuck
operations with the exact command that resumes them, targets that drifted (a file entry
holding neither CURRENT nor PREVIOUS; a GitHub secret last updated before the promotion),
age against ``max_age``, and the audit chain. Values are read only to compare them in
memory; nothing but names, versions and commands is printed. Never imports an SDK.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from keyturn.errors import KeyturnError
from keyturn.rotation.context import Runtime
from keyturn.rotation.journal import lease_is_live, resume_verb
from keyturn.rotation.planning import load_doc, managed, rotated_at
from keyturn.rotation.record import JournalDoc, Role, parse_iso
from keyturn.rotation.secretop import pick
from keyturn.targets.base import entries_for


@dataclass
class Finding:
    secret: str
    kind: str  # unrevoked | untracked | revoke-pending | stuck | in-flight | drift | overdue | audit | error | unchecked (informational)
    message: str
    fix: str = ""


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    secrets: int = 0
    audit: str = ""

    @property
    def healthy(self) -> bool:
        return not [f for f in self.findings if f.kind not in ("in-flight", "unchecked")]


def check_secret(rt: Runtime, name: str, report: Report) -> None:
    add = report.findings.append
    try:
        state, doc = load_doc(rt, name)
    except KeyturnError as exc:
        add(Finding(name, "error", str(exc), "fix the store settings or credentials"))
        return
    store, ref = rt.store_for(name), rt.ref(name)
    now = rt.clock()
    if doc.op is not None:
        op = doc.op
        if lease_is_live(op, now):
            add(Finding(name, "in-flight", f"{op.operation} {op.rotation_id} at stage {op.stage} (lease live)"))
        else:
            add(Finding(name, "stuck", f"{op.operation} {op.rotation_id} stopped at stage {op.stage}",
                        f"keyturn {resume_verb(op.operation)} {name}   (or: keyturn abort {name} --reason TEXT)"))
    live = store.live_versions(ref) if state.exists or doc.versions else []
    tracked = {v.version: v for v in doc.versions}
    for version in live:
        if version == state.current:
            continue
        t = tracked.get(version)
        if t is None:
            add(Finding(name, "untracked", f"version {version} is live but was not made by keyturn's lifecycle",
                        f"keyturn rotate {name} --mode emergency --reason TEXT   (revokes every other version)"))
        elif t.due(now):
            add(Finding(name, "unrevoked", f"version {version} ({t.why or 'due'}) should have been revoked "
                        f"at {t.retire_after}", f"keyturn finalize {name}"))
    for a in doc.awaiting:
        what = f"credential {a.credential}" if a.credential else f"the key of version {a.version}"
        add(Finding(name, "revoke-pending", f"revoke {what} at the vendor (pending since {a.since})"
                    + (f": {a.instructions}" if a.instructions else ""),
                    f"keyturn confirm-revoked {name}" + (f" --credential {a.credential}" if a.credential else "")
                    + " --reason TEXT"))
    sc = rt.secret(name)
    rot = rotated_at(state, doc)
    if state.exists and rot is not None and now - rot > sc.policy.max_age:
        days = (now - rot - sc.policy.max_age) / timedelta(days=1)
        add(Finding(name, "overdue", f"CURRENT is {days:.1f} day(s) past max_age", f"keyturn rotate {name}"))
    if not state.exists:
        add(Finding(name, "overdue", "the secret has no CURRENT version", f"keyturn rotate {name}"))
    elif managed(state, doc) and doc.op is None:
        _check_targets(rt, name, doc, report)


def _check_targets(rt: Runtime, name: str, doc: JournalDoc, report: Report) -> None:
    store, ref = rt.store_for(name), rt.ref(name)
    cur = doc.current
    assert cur is not None
    prev = doc.previous
    try:
        current = store.read(ref, cur.version)
        previous = store.read(ref, prev.version) if prev is not None else None
        bounds = rt.targets_for(name)
    except KeyturnError as exc:
        report.findings.append(Finding(name, "unchecked", f"targets not checked: {exc}"))
        return
    since = parse_iso(cur.since)
    for bound in bounds:
        try:
            plan = entries_for(bound.shape, bound.entry_name, pick(bound, current, name), cur.generation,
                               pick(bound, previous, name) if previous is not None else None,
                               prev.generation if prev is not None else None)
        except KeyturnError as exc:
            report.findings.append(Finding(name, "unchecked", f"{bound.label}: not checked ({exc})"))
            continue
        try:
            ok = bound.target.is_current(plan.write, since=since) if since else False
        except KeyturnError as exc:
            report.findings.append(Finding(name, "unchecked", f"{bound.label}: not checked ({exc})"))
            continue
        if not ok:
            report.findings.append(Finding(
                name, "drift", f"{bound.label} does not hold the current version {cur.version} "
                f"({', '.join(e.name for e in plan.write)})", f"keyturn rotate {name}"))


def run(rt: Runtime) -> Report:
    report = Report()
    for name in rt.manifest.model.secrets:
        report.secrets += 1
        check_secret(rt, name, report)
    report.audit = _audit_state(rt, report)
    return report


def _audit_state(rt: Runtime, report: Report) -> str:
    from keyturn.audit import Keyring, verify_log

    path = rt.manifest.resolve(rt.manifest.model.audit.log)
    if not path.exists():
        return "no audit log yet"
    try:
        result = verify_log(str(path), Keyring.from_env(dict(rt.environ)))
    except KeyturnError as exc:
        report.findings.append(Finding("(audit)", "audit", str(exc), "keyturn audit verify"))
        return "unreadable"
    if not result.ok:
        report.findings.append(Finding("(audit)", "audit", "the audit chain does not verify", "keyturn audit verify"))
        return "broken"
    return f"ok, {result.records} record(s)"


# ---------------------------------------------------------------------------- rendering
def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"version": 1, "healthy": report.healthy, "secrets": report.secrets,
                           "audit": report.audit, "findings": [asdict(f) for f in report.findings]}, indent=2) + "\n"
    if fmt == "prometheus":
        kinds: dict[tuple[str, str], int] = {}
        for f in report.findings:
            kinds[(f.secret, f.kind)] = kinds.get((f.secret, f.kind), 0) + 1
        out = ["# HELP keyturn_doctor_findings Problems keyturn doctor found, by secret and kind.",
               "# TYPE keyturn_doctor_findings gauge"]
        out += [f'keyturn_doctor_findings{{secret="{s}",kind="{k}"}} {n}' for (s, k), n in sorted(kinds.items())]
        out += ["# HELP keyturn_doctor_healthy 1 when nothing needs action.", "# TYPE keyturn_doctor_healthy gauge",
                f"keyturn_doctor_healthy {int(report.healthy)}"]
        return "\n".join(out) + "\n"
    if fmt == "markdown":
        head = f"### keyturn doctor\n\n{report.secrets} secret(s), audit log: {report.audit}.\n\n"
        if not report.findings:
            return head + "Nothing needs action.\n"
        rows = "".join(f"| {_md(f.secret)} | {f.kind} | {_md(f.message)} | `{_md(f.fix)}` |\n" for f in report.findings)
        return head + "| secret | kind | finding | fix |\n|---|---|---|---|\n" + rows
    lines = [f"{f.secret}: {f.kind}: {f.message}" + (f"\n    fix: {f.fix}" if f.fix else "") for f in report.findings]
    summary = (f"{report.secrets} secret(s) checked; audit log: {report.audit}; "
               + ("nothing needs action" if report.healthy else f"{len(report.findings)} finding(s)"))
    return "\n".join(lines + [summary]) + "\n"


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").replace("`", "'")


__all__ = ["Finding", "Report", "Role", "check_secret", "render", "run"]
