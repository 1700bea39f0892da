"""Command-line interface: argument parsing and wiring only (no logic lives here).

Results go to stdout, progress and errors to stderr. Errors are one line; a traceback
only with ``--debug``. Exit codes (docs/architecture.md): 0 ok, 1 a check failed, 2 usage or
manifest error, 3 conflict, 4 a service failed after retries.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from keyturn import __version__, gha
from keyturn._internal.atomic import AtomicWriteError
from keyturn.errors import ExitCode, KeyturnError, SmokeFailed, UsageError, terminal_text

ENV_TABLE = {
    "KEYTURN_MANIFEST": "manifest path (default keyturn.yml)",
    "KEYTURN_DEBUG": "true: tracebacks on errors",
    "KEYTURN_QUIET": "true: no progress lines on stderr",
}

EPILOG = """\
exit codes: 0 ok · 1 a check failed (validation, smoke, findings, audit) · 2 usage or
manifest error · 3 conflict (rotation in progress) · 4 a service failed after retries

environment: VAULT_ADDR, VAULT_TOKEN, GITHUB_TOKEN, GITHUB_API_URL as usual;
KEYTURN_MANIFEST, KEYTURN_DEBUG, KEYTURN_QUIET; KEYTURN_AUDIT_KEY_V<n> and
KEYTURN_AUDIT_KEY_ACTIVE_VERSION sign the audit log.
"""


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() == "true":
        return True
    if raw.lower() == "false":
        return False
    raise UsageError(f"{name} must be true or false, not {raw!r}")


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (no usage block): raised as UsageError for main()."""

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"invalid choice: ('[^']*') \(choose from (.*)\)",
                         lambda m: f"invalid choice {m[1]} (choose from {m[2].replace(chr(39), '')})", message)
        where = self.prog.removeprefix("keyturn").strip()
        raise UsageError(f"{where + ': ' if where else ''}{message} — see {self.prog} --help")


def _count(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number of records, not {text!r}")
    return int(text)


def _shard(text: str) -> Any:
    from keyturn.rotation.shards import Shard

    try:
        return Shard.parse(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _shard_count(text: str) -> int:
    from keyturn.rotation.shards import parse_count

    try:
        return parse_count(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _output_file(text: str) -> str:
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a directory: name a file")
    parent = os.path.dirname(os.path.abspath(text))
    while not os.path.exists(parent) and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"{text!r}: {parent} is not a directory")
    return text


def _manifest_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", "-m", metavar="FILE", default=os.environ.get("KEYTURN_MANIFEST", "keyturn.yml"),
                   help="manifest file (default: $KEYTURN_MANIFEST or keyturn.yml)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="keyturn",
        description="Rotate secrets (Vault/OpenBao → files, GitHub secrets) with checks, rollback and an "
        "audit log; scan code for leaked secrets.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"keyturn {__version__}")
    parser.add_argument("--debug", action="store_true", default=None, help="show tracebacks on errors")
    parser.add_argument("-q", "--quiet", action="store_true", default=None, help="no progress on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("rotate", help="rotate secrets now (or those past max_age with --due)",
                       description="Create, verify, promote, distribute and smoke-check a new version of "
                       "each named secret. Re-running resumes an interrupted rotation.")
    p.add_argument("names", nargs="*", metavar="NAME", help="secrets from the manifest")
    _manifest_arg(p)
    p.add_argument("--due", action="store_true", help="only secrets older than their policy.max_age "
                   "(all secrets when no NAME is given)")
    p.add_argument("--mode", choices=["scheduled", "emergency"], default="scheduled",
                   help="emergency: grace 0, previous versions revoked at once, --reason required")
    p.add_argument("--reason", metavar="TEXT", help="why (recorded in the audit log and evidence)")
    p.add_argument("--dry-run", action="store_true", default=None,
                   help="print the plan (secrets, stores, targets, entries) and change nothing")
    p.add_argument("--format", choices=["text", "json"], default="text", help="result format on stdout")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--value-from-stdin", action="store_true",
                     help="read the new value from stdin (one secret; for manual and random generators) — "
                     "never pass a value as an argument or a workflow input")
    src.add_argument("--value-fd", type=int, metavar="N", help="read the new value from file descriptor N")
    shard = p.add_mutually_exclusive_group()
    shard.add_argument("--until", choices=["promoted"], help="sharded rotation, phase 1: create, verify and "
                       "promote one secret, then stop (the --shard jobs distribute; a plain rotate finishes)")
    shard.add_argument("--shard", type=_shard, metavar="I/N", help="sharded rotation, phase 2: write only slice I "
                       "of N of a promoted rotation's targets (KEYTURN_GITHUB_TOKEN_SHARD_<I> pins its own token)")
    p.add_argument("--shard-targets", type=_shard_count, metavar="N", help="with --until promoted: record that "
                   "N shards distribute (the finishing rotate then requires all N)")

    p = sub.add_parser("confirm-revoked", help="record that an old key was revoked at its vendor by a person",
                       description="A manual generator's old key (or a credential whose issuer the manifest no "
                       "longer names) cannot be revoked by keyturn: doctor lists it until this records that a "
                       "person revoked it. Audited.")
    p.add_argument("name", metavar="NAME")
    _manifest_arg(p)
    p.add_argument("--credential", metavar="ID", help="which one, when several are pending (see keyturn doctor)")
    p.add_argument("--reason", metavar="TEXT", required=True, help="who revoked it where (audited)")

    p = sub.add_parser("finalize", help="retire PREVIOUS versions whose grace window has ended")
    p.add_argument("names", nargs="*", metavar="NAME", help="default: every secret in the manifest")
    _manifest_arg(p)
    p.add_argument("--force", action="store_true", help="retire even inside the grace window")

    p = sub.add_parser("rollback", help="make PREVIOUS the CURRENT version again (during grace)")
    p.add_argument("name", metavar="NAME")
    _manifest_arg(p)
    p.add_argument("--reason", metavar="TEXT")

    for verb, help_text, description in (
        ("abort", "abandon an in-flight rotation, restoring what it changed",
         "Abandon the unfinished operation of NAME: before promotion the pending value is dropped; after it "
         "the old CURRENT is restored in the store and every target and the new version is revoked. Audited."),
        ("unlock", "free the lease of an operation whose runner is gone",
         "Expire the lease of NAME's unfinished operation so that it can be resumed (the command is printed) "
         "or aborted at once. Audited. Use only when the runner that holds it is gone."),
    ):
        p = sub.add_parser(verb, help=help_text, description=description)
        p.add_argument("name", metavar="NAME")
        _manifest_arg(p)
        p.add_argument("--reason", metavar="TEXT", required=True, help="why (audited)")

    p = sub.add_parser("doctor", help="read-only health report: unrevoked versions, stuck rotations, drift",
                       description="Check every managed secret: live versions that should have been revoked, "
                       "in-flight or stuck operations (with the command that resumes them), targets that "
                       "drifted, age against max_age, and the audit chain. Exit 1 when anything needs action.")
    _manifest_arg(p)
    p.add_argument("--format", choices=["table", "json", "markdown", "prometheus"], default="table")

    p = sub.add_parser("status", help="ages, due and in-flight rotations (metadata only, never values)")
    _manifest_arg(p)
    p.add_argument("--format", choices=["table", "json", "markdown", "prometheus"], default="table")

    p = sub.add_parser("plan", help="what would rotate; --format matrix for a GitHub Actions matrix")
    _manifest_arg(p)
    p.add_argument("--due", action="store_true")
    p.add_argument("--format", choices=["json", "matrix", "text"], default="json")
    p.add_argument("--shard-targets", type=_shard_count, metavar="N", help="with --format matrix: one entry per "
                   "secret and shard (secret, shard I/N) for the distribute jobs of a sharded rotation")

    p = sub.add_parser("validate", help="run a secret's validate and smoke checks against CURRENT")
    p.add_argument("name", metavar="NAME")
    _manifest_arg(p)

    p = sub.add_parser("audit", help="audit log tools")
    asub = p.add_subparsers(dest="audit_command", metavar="SUBCOMMAND")
    asub.required = True
    v = asub.add_parser("verify", help="verify the hash chain; exit 1 naming the first bad line")
    v.add_argument("--log", metavar="FILE", help="default: the manifest's audit.log, else "
                   "logs/security_audit.jsonl")
    _manifest_arg(v)
    v.add_argument("--expect-count", type=_count, metavar="N", help="fail if fewer records (truncation)")
    v.add_argument("--expect-head", metavar="DIGEST", help="fail unless this digest is in the chain")
    r = asub.add_parser("rekey", help="adopt the chain key (KEYTURN_AUDIT_KEY_V<n>) for an unkeyed or older chain")
    r.add_argument("--log", metavar="FILE", help="default: the manifest's audit.log, else "
                   "logs/security_audit.jsonl")
    _manifest_arg(r)
    r.add_argument("--reason", metavar="TEXT", help="why (recorded in the audit.rekey record)")

    p = sub.add_parser("manifest", help="manifest tools")
    msub = p.add_subparsers(dest="manifest_command", metavar="SUBCOMMAND")
    msub.required = True
    s = msub.add_parser("schema", help="print the manifest's JSON Schema (for editors)")
    s.add_argument("--output", "-o", metavar="FILE", type=_output_file)
    c = msub.add_parser("check", help="validate a manifest and exit")
    _manifest_arg(c)
    st = msub.add_parser("stores", help="print the SDKs the manifest needs (vault, aws, azure, postgres), one a line",
                         description="Print, one a line, the SDK extras (vault, aws, azure, postgres) that the "
                         "manifest's stores, its issuers and its aws-sts / vault-token checks need: what "
                         "actions/setup installs with `stores: auto`. Needs no SDK itself.")
    _manifest_arg(st)

    p = sub.add_parser("changelog-pr", help="commit the run's audit records, evidence and changelog entry to "
                       "one rolling pull request", description="Append this run's audit records to the "
                       "repository's audit log (continuing its chain), add evidence and a changelog entry on "
                       "one fixed branch, and open or update its pull request. No diff, no PR.")
    _manifest_arg(p)
    p.add_argument("--dry-run", action="store_true", default=None, help="print what would change; write nothing")
    p.add_argument("--fetch-log", action="store_true", help="instead: copy the repository's audit log (PR "
                   "branch, else base) to the local log so this run's chain starts from its head")
    p.add_argument("--format", choices=["text", "json"], default="text", help="result format on stdout")

    try:
        from keyturn.scan import cli as scan_cli
    except ImportError:
        p = sub.add_parser("scan", help="scan for leaked secrets (needs keyturn[scan])")
        p.set_defaults(scan_missing=True)
    else:
        scan_cli.add_parser(sub)
    return parser


def _runtime(args: argparse.Namespace) -> Any:
    from keyturn._internal.semantics import check_semantics
    from keyturn.manifest import load_manifest
    from keyturn.rotation.context import Progress, Runtime

    loaded = load_manifest(args.manifest)
    check_semantics(loaded)
    return Runtime(loaded, dict(os.environ), Progress(quiet=bool(args.quiet)))


def _names(rt: Any, names: Sequence[str]) -> list[str]:
    for n in names:
        rt.secret(n)  # raises ManifestError naming the known secrets
    return list(dict.fromkeys(names)) or list(rt.manifest.model.secrets)


def _worst(codes: list[int]) -> int:
    order = [ExitCode.SERVICE, ExitCode.CONFLICT, ExitCode.USAGE, ExitCode.CHECK_FAILED]
    for code in order:
        if code in codes:
            return int(code)
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    from keyturn.rotation import planning, render
    from keyturn.rotation.lifecycle import rotate

    if not args.names and not args.due:
        raise UsageError("name the secrets to rotate (keyturn rotate NAME...), or pass --due")
    if args.mode == "emergency" and not (args.reason or "").strip():
        raise UsageError("--mode emergency needs --reason TEXT (it is audited)")
    if (args.value_from_stdin or args.value_fd is not None) and (len(args.names) != 1 or args.due):
        raise UsageError("a value from stdin or a file descriptor is for one secret: name exactly one, without --due")
    if args.until or args.shard is not None or args.shard_targets is not None:
        return _rotate_sharded(args)
    rt = _runtime(args)
    names = _names(rt, args.names)
    if args.due:
        names = planning.due_secrets(rt, names)
    dry = args.dry_run if args.dry_run is not None else env_bool("KEYTURN_DRY_RUN")
    if dry:
        items = [planning.plan_item(rt, n, args.mode) for n in names]
        sys.stdout.write(render.plan_json(items) if args.format == "json" else render.plan_text(items))
        gha.set_output("status", "planned")
        return 0
    value = _supplied_value(args, names)
    if not names:
        rt.progress.step("keyturn", "nothing is due")
    results: list[dict[str, Any]] = []
    codes: list[int] = []
    for name in names:
        try:
            o = rotate(rt, name, mode=args.mode, reason=args.reason, value=value)
            results.append({"secret": name, "status": o.status, "rotation_id": o.rotation_id,
                            "version": o.version, "previous": o.previous, "evidence": o.evidence})
        except KeyturnError as exc:
            codes.append(int(exc.exit_code))
            results.append({"secret": name, "status": "failed", "exit_code": int(exc.exit_code),
                            "error": str(exc), "rolled_back": isinstance(exc, SmokeFailed)})
            sys.stderr.write(f"keyturn: error: {terminal_text(exc)}\n")
    if args.format == "json":
        sys.stdout.write(json.dumps({"version": 1, "results": results}, indent=2) + "\n")
    else:
        for r in results:
            if r["status"] == "failed":
                sys.stdout.write(f"{r['secret']}: FAILED (exit {r['exit_code']})\n")
            else:
                sys.stdout.write(f"{r['secret']}: {r['status']} — version {r['version']} CURRENT "
                                 f"(previous {r['previous'] or 'none'}), rotation {r['rotation_id']}\n")
    _actions_report(results)
    return _worst(codes)


def _rotate_sharded(args: argparse.Namespace) -> int:
    """``rotate NAME --until promoted [--shard-targets N]`` and ``rotate NAME --shard I/N``."""
    from keyturn.rotation import sharded

    what = f"--shard {args.shard.label}" if args.shard is not None else "--until promoted"
    if args.shard_targets is not None and not args.until:
        raise UsageError("--shard-targets N goes with --until promoted (the shards then run --shard I/N)")
    if len(args.names) != 1 or args.due:
        raise UsageError(f"{what} is for one secret: name exactly one, without --due")
    if args.dry_run or env_bool("KEYTURN_DRY_RUN"):
        raise UsageError(f"{what} changes the store or targets; for a plan use `keyturn plan` or rotate --dry-run")
    if args.shard is not None and (args.value_from_stdin or args.value_fd is not None or args.reason):
        raise UsageError("--shard distributes a rotation already promoted; --reason and a new value go with "
                         "--until promoted")
    rt = _runtime(args)
    name = _names(rt, args.names)[0]
    try:
        if args.shard is not None:
            o = sharded.distribute(rt, name, args.shard)
        else:
            o = sharded.promote(rt, name, mode=args.mode, reason=args.reason, value=_supplied_value(args, [name]),
                                shard_count=args.shard_targets)
    except KeyturnError as exc:
        result = {"secret": name, "status": "failed", "exit_code": int(exc.exit_code), "error": str(exc),
                  "rolled_back": isinstance(exc, SmokeFailed)}
        if args.format == "json":
            sys.stdout.write(json.dumps({"version": 1, "results": [result]}, indent=2) + "\n")
        _actions_report([result])
        raise
    result = {"secret": name, "status": o.status, "rotation_id": o.rotation_id, "version": o.version,
              "previous": o.previous, "evidence": o.evidence, "shard": args.shard.label if args.shard else None}
    if args.format == "json":
        sys.stdout.write(json.dumps({"version": 1, "results": [result]}, indent=2) + "\n")
    else:
        note = f" ({o.message})" if o.message else ""
        sys.stdout.write(f"{name}: {o.status}{' shard ' + args.shard.label if args.shard else ''}{note} — "
                         f"version {o.version or '-'} CURRENT, rotation {o.rotation_id or '-'}\n")
    _actions_report([result])
    return 0


def _supplied_value(args: argparse.Namespace, names: list[str]) -> Any:
    """The value a person pipes in (--value-from-stdin / --value-fd): boxed (and masked)
    at once; one trailing newline is dropped. Never from argv."""
    if not args.value_from_stdin and args.value_fd is None:
        return None
    from keyturn.values import SecretValue

    where = "stdin" if args.value_from_stdin else f"file descriptor {args.value_fd}"
    try:
        if args.value_from_stdin:
            if sys.stdin is None or sys.stdin.isatty():
                raise UsageError("--value-from-stdin: pipe the value in (stdin is a terminal or closed)")
            raw = sys.stdin.buffer.read()
        else:
            with os.fdopen(args.value_fd, "rb", closefd=False) as fh:
                raw = fh.read()
    except OSError as exc:
        raise UsageError(f"cannot read the value from {where}: {exc.strerror or exc}") from None
    if raw.endswith(b"\r\n"):
        raw = raw[:-2]
    elif raw.endswith(b"\n"):
        raw = raw[:-1]
    try:
        value = SecretValue(raw)
    except ValueError:
        raise UsageError(f"the value from {where} is not valid UTF-8") from None
    if not value:
        raise UsageError(f"the value from {where} is empty")
    if value.is_multiline and b"-----BEGIN" not in raw:
        raise UsageError(f"the value from {where} has several lines; pipe exactly one value")
    return value


def cmd_confirm_revoked(args: argparse.Namespace) -> int:
    from keyturn.rotation.lifecycle import confirm_revoked

    rt = _runtime(args)
    name = _names(rt, [args.name])[0]
    o = confirm_revoked(rt, name, credential=args.credential, reason=args.reason)
    sys.stdout.write(f"{name}: {o.status}{' — ' + o.message if o.message else ''}\n")
    return 0


def _actions_report(results: list[dict[str, Any]]) -> None:
    """Step outputs (handles only) and a step-summary table, when running in Actions."""
    gha.set_output("rotation-ids", " ".join(r.get("rotation_id", "") for r in results if r.get("rotation_id")))
    if not results:
        status = "noop"
    elif any(r["status"] == "failed" and r.get("rolled_back") is not True for r in results):
        status = "failed"
    elif any(r.get("rolled_back") for r in results):
        status = "rolled-back"
    else:
        status = "completed"
    gha.set_output("status", status)
    if results:
        rows = "".join(
            f"| {r['secret']} | {r['status']} | {r.get('version', '') or '-'} | {r.get('previous', '') or '-'} "
            f"| {r.get('rotation_id', '') or '-'} |\n" for r in results)
        gha.append_summary("### keyturn rotate\n\n| secret | status | version | previous | rotation |\n"
                           "|---|---|---|---|---|\n" + rows)


def cmd_finalize(args: argparse.Namespace) -> int:
    from keyturn.rotation.lifecycle import finalize

    rt = _runtime(args)
    codes = []
    for name in _names(rt, args.names):
        try:
            o = finalize(rt, name, force=args.force)
            sys.stdout.write(f"{name}: {o.status}{' — ' + o.message if o.message else ''}"
                             f"{' (retired ' + o.previous + ')' if o.status == 'retired' else ''}\n")
        except KeyturnError as exc:
            codes.append(int(exc.exit_code))
            sys.stderr.write(f"keyturn: error: {terminal_text(exc)}\n")
    return _worst(codes)


def cmd_rollback(args: argparse.Namespace) -> int:
    from keyturn.rotation.lifecycle import rollback

    rt = _runtime(args)
    rt.secret(args.name)
    o = rollback(rt, args.name, reason=args.reason)
    sys.stdout.write(f"{args.name}: rolled back — {o.message}\n")
    return 0


def _cmd_reasoned(args: argparse.Namespace, verb: str) -> int:
    """``abort`` and ``unlock``: one secret, a required reason, one result line."""
    from keyturn.rotation import lifecycle

    rt = _runtime(args)
    rt.secret(args.name)
    o = getattr(lifecycle, verb)(rt, args.name, reason=args.reason)
    sys.stdout.write(f"{args.name}: {o.status}{' — ' + o.message if o.message else ''}\n")
    return 0


def cmd_abort(args: argparse.Namespace) -> int:
    return _cmd_reasoned(args, "abort")


def cmd_unlock(args: argparse.Namespace) -> int:
    return _cmd_reasoned(args, "unlock")


def cmd_doctor(args: argparse.Namespace) -> int:
    from keyturn.rotation import doctor

    rt = _runtime(args)
    report = doctor.run(rt)
    sys.stdout.write(doctor.render(report, args.format))
    gha.append_summary(doctor.render(report, "markdown"))
    return 0 if report.healthy else int(ExitCode.CHECK_FAILED)


def cmd_status(args: argparse.Namespace) -> int:
    from keyturn.rotation import planning, render

    rt = _runtime(args)
    rows = [planning.status_row(rt, n) for n in rt.manifest.model.secrets]
    fmt = {"table": render.status_table, "json": render.status_json, "markdown": render.status_markdown,
           "prometheus": render.status_prometheus}[args.format]
    sys.stdout.write(fmt(rows))
    gha.append_summary(render.status_markdown(rows))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from keyturn.rotation import planning, render

    rt = _runtime(args)
    names = list(rt.manifest.model.secrets)
    if args.due:
        names = planning.due_secrets(rt, names)
    if args.shard_targets is not None and args.format != "matrix":
        raise UsageError("plan: --shard-targets N goes with --format matrix")
    if args.format == "matrix" and args.shard_targets is not None:
        from keyturn.rotation import shards

        matrix = shards.matrix(names, args.shard_targets)
        sys.stdout.write(json.dumps(matrix) + "\n")
        gha.set_output("matrix", json.dumps(planning.matrix(names)))  # one per secret: promote and finish jobs
        gha.set_output("shard-matrix", json.dumps(matrix))
        gha.set_output("count", str(len(names)))
        return 0
    if args.format == "matrix":
        matrix = planning.matrix(names)
        sys.stdout.write(json.dumps(matrix) + "\n")
        gha.set_output("matrix", json.dumps(matrix))
        gha.set_output("count", str(len(names)))
        return 0
    items = [planning.plan_item(rt, n, "scheduled") for n in names]
    sys.stdout.write(render.plan_json(items) if args.format == "json" else render.plan_text(items))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    rt = _runtime(args)
    sc = rt.secret(args.name)
    store = rt.store_for(args.name)
    ref = rt.ref(args.name)
    state = store.describe(ref)
    if not state.exists or not state.current:
        raise UsageError(f"{args.name}: no CURRENT version in {store.label} {sc.path} — rotate it first")
    value = store.read(ref, state.current)
    failed = 0
    for check in rt.checks(list(sc.validate_) + list(sc.smoke)):
        result = check.run(args.name, value)
        failed += not result.ok
        sys.stdout.write(f"{'ok  ' if result.ok else 'FAIL'} {result.display}\n")
    return int(ExitCode.CHECK_FAILED) if failed else 0


def _audit_path(args: argparse.Namespace) -> str:
    if args.log:
        return str(args.log)
    from keyturn.manifest import load_manifest

    if os.path.exists(args.manifest):
        m = load_manifest(args.manifest)
        return str(m.resolve(m.model.audit.log))
    return "logs/security_audit.jsonl"


def cmd_audit_rekey(args: argparse.Namespace) -> int:
    from keyturn.audit import KEY_ENV_PREFIX, AuditLog, Keyring

    path = _audit_path(args)
    root = os.path.dirname(os.path.abspath(args.manifest)) if not args.log and os.path.exists(args.manifest) else None
    log = AuditLog(os.path.abspath(path) if root else path, Keyring.from_env(dict(os.environ)), root=root)
    record = log.rekey(reason=args.reason or "")
    version = log.keyring.active_version
    if record is None:
        sys.stdout.write(f"{path}: already signed with {KEY_ENV_PREFIX}{version} — nothing to adopt\n")
    else:
        sys.stdout.write(f"{path}: line {record['seq']} audit.rekey adopts {KEY_ENV_PREFIX}{version}; "
                         "verification now requires it\n")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from keyturn.audit import Keyring, verify_log

    if args.audit_command == "rekey":
        return cmd_audit_rekey(args)
    path = _audit_path(args)
    report = verify_log(path, Keyring.from_env(dict(os.environ)), expect_head=args.expect_head,
                        expect_count=args.expect_count)
    if report.warning:
        sys.stderr.write(f"warning: {report.warning}\n")
    if not report.ok:
        report.raise_for_failure()
    sys.stdout.write(f"{path}: ok — {report.records} record(s), chain intact, head {report.head}\n")
    return 0


def cmd_manifest(args: argparse.Namespace) -> int:
    from keyturn import manifest

    if args.manifest_command == "schema":
        text = manifest.schema_json()
        if args.output:
            from keyturn._internal.atomic import write_output

            write_output(args.output, text)
        else:
            sys.stdout.write(text)
        return 0
    from keyturn._internal.semantics import check_semantics

    m = manifest.load_manifest(args.manifest)
    check_semantics(m)
    if args.manifest_command == "stores":
        from keyturn._internal.sdks import store_extras

        sys.stdout.write("".join(f"{extra}\n" for extra in store_extras(m)))
        return 0
    sys.stdout.write(f"{m.path}: ok — {len(m.model.secrets)} secret(s), {len(m.model.stores)} store(s)\n")
    return 0


def cmd_changelog_pr(args: argparse.Namespace) -> int:
    from keyturn import changelog
    from keyturn._internal.github_client import GitHubSession
    from keyturn._internal.github_repo import RepoClient
    from keyturn.audit import Keyring
    from keyturn.manifest import load_manifest

    env = dict(os.environ)
    settings = changelog.settings_from(load_manifest(args.manifest), env)
    keyring = Keyring.from_env(env)
    client = RepoClient(GitHubSession.from_env(env), settings.repository)
    if args.fetch_log:
        ref, count, head = changelog.fetch_log(client, settings, keyring)
        sys.stdout.write(f"{settings.local_log}: chain continues from {settings.repository}@{ref} — "
                         f"{count} record(s), head {head}\n")
        gha.set_output("audit-head", head)
        return 0
    dry = args.dry_run if args.dry_run is not None else env_bool("KEYTURN_DRY_RUN")
    out = changelog.changelog_pr(client, settings, keyring, dry_run=dry)
    result = {"operation": out.operation, "branch": out.branch, "base": out.base, "pull_request": out.url,
              "number": out.number, "records_carried": out.carried, "audit_head": out.head,
              "files": out.files, "dry_run": dry}
    if args.format == "json":
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        verb = "would be " if dry and out.operation != "none" else ""
        sys.stdout.write(f"changelog-pr: {verb}{out.operation} — branch {out.branch} → {out.base}, "
                         f"{out.carried} audit record(s), {len(out.files)} file(s)"
                         f"{', ' + out.url if out.url else ''}\n")
    if not dry:
        gha.set_output("operation", out.operation)
        gha.set_output("pull-request-url", out.url)
        gha.set_output("pull-request-number", str(out.number or ""))
        gha.set_output("audit-head", out.head)
        gha.append_summary(changelog.summary(out))
    return 0


COMMANDS = {
    "rotate": cmd_rotate, "confirm-revoked": cmd_confirm_revoked, "finalize": cmd_finalize, "rollback": cmd_rollback, "status": cmd_status,
    "plan": cmd_plan, "validate": cmd_validate, "audit": cmd_audit, "manifest": cmd_manifest,
    "abort": cmd_abort, "unlock": cmd_unlock, "doctor": cmd_doctor, "changelog-pr": cmd_changelog_pr,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(list(argv) if argv is not None else None)
        if extra:
            cmd = " ".join(filter(None, (args.command, getattr(args, "audit_command", None),
                                         getattr(args, "manifest_command", None))))
            raise UsageError(f"{cmd}: unrecognized arguments: {' '.join(extra)} — see keyturn {cmd} --help")
    except SystemExit as exc:  # argparse: --help or --version
        return int(exc.code or 0)
    except UsageError as exc:  # argparse's errors, one line (see _Parser)
        sys.stderr.write(f"keyturn: error: {terminal_text(exc)}\n")
        return int(exc.exit_code)
    debug = False
    try:
        debug = args.debug if args.debug is not None else env_bool("KEYTURN_DEBUG")
        if args.quiet is None:
            args.quiet = env_bool("KEYTURN_QUIET")
        if args.command == "scan":
            if getattr(args, "scan_missing", False):
                raise UsageError("scan needs the scanner extra: pip install 'keyturn[scan]'")
            from keyturn.scan import cli as scan_cli

            return int(scan_cli.run(args))
        return int(COMMANDS[args.command](args))
    except KeyturnError as exc:
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"keyturn: error: {terminal_text(exc)}\n")
        return int(exc.exit_code)
    except AtomicWriteError as exc:  # an output file that cannot be written where the user asked
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"keyturn: error: cannot {exc.action} {exc.path}: {exc.strerror} — choose another path\n")
        return int(ExitCode.USAGE)
    except KeyboardInterrupt:
        sys.stderr.write("keyturn: interrupted — re-run the same command to resume\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - never print str(exc): it may carry payloads
        if debug:
            traceback.print_exc()
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" in {tb[-1].name} ({os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
        sys.stderr.write(f"keyturn: internal error: {exc.__class__.__name__}{where} — re-run with --debug "
                         "and report it\n")
        return int(ExitCode.SERVICE)


if __name__ == "__main__":
    sys.exit(main())
