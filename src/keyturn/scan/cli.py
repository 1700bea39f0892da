"""``keyturn scan``: argument parsing and printing only; the work is in :mod:`keyturn.scan.api`.

``add_parser(subparsers)`` registers the subcommand; ``run(args)`` returns the exit code
(0 clean, 1 new findings, 2 usage error via :class:`keyturn.errors.UsageError`). Results go
to stdout or, atomically, to ``--output``; progress and logs go to stderr. Never prints a
value. Imports the stdlib, keyturn.errors, keyturn.gha and keyturn.scan; never stores,
targets or cloud SDKs.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from typing import TYPE_CHECKING

from keyturn._internal.atomic import write_output
from keyturn.errors import ExitCode, UsageError
from keyturn.scan.model import DEFAULT_MAX_FILE_SIZE, FORMATS, ScanOptions

if TYPE_CHECKING:
    from keyturn.scan.api import ScanRequest

DESCRIPTION = """\
Scan files for leaked secrets (GitHub/GitLab/Slack/Stripe/OpenAI/Anthropic/Google/AWS/
Azure/npm/PyPI tokens, private keys, JWTs, credentials in URLs, high-entropy values
assigned to password/secret/token/key names, and detect-secrets' stock plugins).

modes:
  keyturn scan [PATH]            the whole tree (default: current directory)
  keyturn scan --diff BASE       lines added since the merge base of BASE and HEAD, and
                                 secrets added by any commit since then, even if a later
                                 commit removed them (pull-request gate)
  keyturn scan --staged          only staged lines (pre-commit hook)
  keyturn scan --history [RANGE] every blob each commit of RANGE introduced (default
                                 HEAD: the whole history; ALL: every ref), with commit
                                 and author date

exit codes: 0 no new findings, 1 new findings (not in --baseline), 2 usage error.
Values are never printed: findings carry locations and value-free fingerprints only.
"""

EPILOG = """\
environment:
  KEYTURN_SCAN_FORMAT            default for --format
  KEYTURN_SCAN_EXIT_ZERO         true/false: default for --exit-zero
  KEYTURN_SCAN_JOBS              default for --jobs
  KEYTURN_SCAN_FINGERPRINT_KEY   HMAC key for fingerprints, which hash the rule, path and
                                 the line with the secret masked, never the value (the
                                 default key is public; your own hides the line's text)
  KEYTURN_CACHE_DIR              where the compiled prefilter is cached

Silence a false positive with a `pragma: allowlist secret` comment on the line (or
`pragma: allowlist nextline secret` on the line above), an --exclude glob or a
.keyturnignore file (one glob per line), or record it with --update-baseline.
"""


def _env_bool(name: str) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return False
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise UsageError(f"{name}={raw!r}: expected true or false")


def _size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)(?:i?[bB])?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"invalid size {text!r} (e.g. 1048576, 512K, 4M)")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2).lower()]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "scan",
        help="scan files for leaked secrets (text, JSON or SARIF)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "path", nargs="?", default=".", metavar="PATH", help="file or directory to scan (default: .)"
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--diff", metavar="BASE", help="scan lines added since git revision BASE and every commit since"
    )
    mode.add_argument("--staged", action="store_true", help="scan only staged lines (for pre-commit)")
    mode.add_argument(
        "--history",
        nargs="?",
        const="HEAD",
        metavar="RANGE",
        help="scan every blob the commits of git range RANGE introduced (default: HEAD; ALL = every ref)",
    )
    p.add_argument(
        "--baseline", metavar="F", help="detect-secrets baseline: findings listed in it do not fail"
    )
    p.add_argument(
        "--update-baseline", action="store_true", help="write all current findings into --baseline F"
    )
    p.add_argument("--format", choices=FORMATS, default=None, help="output format (default: text)")
    p.add_argument("--output", metavar="F", help="write results to F atomically (only on success)")
    p.add_argument("--exit-zero", action="store_true", default=None, help="exit 0 even with new findings")
    p.add_argument("--jobs", type=int, metavar="N", default=None, help="worker processes (default: auto)")
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip paths matching GLOB (repeatable; .keyturnignore is read too)",
    )
    p.add_argument(
        "--max-file-size",
        type=_size,
        default=DEFAULT_MAX_FILE_SIZE,
        metavar="BYTES",
        help=f"skip files larger than this (default: {DEFAULT_MAX_FILE_SIZE})",
    )
    p.add_argument(
        "--manifest", metavar="F", help="keyturn.yml: flag findings equal to a managed secret's live value"
    )
    p.add_argument(
        "--include-vendored", action="store_true", help="also scan node_modules/, vendor/, .venv/, …"
    )
    p.add_argument("--config", metavar="F", help="gitleaks-compatible custom rules and allowlists (.gitleaks.toml)")
    p.add_argument("--include-minified", action="store_true", help="also scan minified JS/CSS")
    p.add_argument("--include-generated", action="store_true", help="also scan generated files (_pb2.py, …)")
    p.add_argument("--include-lockfiles", action="store_true", help="also scan lock files (integrity hashes)")
    p.set_defaults(func=run)


def _write_output(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"--output {path}: is a directory — name a file")
    if not os.path.isdir(directory):
        raise UsageError(f"--output {path}: directory {directory} does not exist")
    write_output(path, text, 0o644)  # /dev/null, /dev/stdout, a FIFO: written in place, never replaced


def _request(args: argparse.Namespace) -> ScanRequest:
    # The engine, baseline and report modules load only when a scan runs: building
    # the parser is part of every keyturn command's start-up.
    from keyturn.scan import baseline as baseline_mod
    from keyturn.scan.api import ScanRequest, relative_exclude

    if not os.path.exists(args.path):
        raise UsageError(f"scan: path {args.path} does not exist")
    jobs = args.jobs
    if jobs is None:
        raw = os.environ.get("KEYTURN_SCAN_JOBS") or "0"
        if not raw.isdigit():
            raise UsageError(f"KEYTURN_SCAN_JOBS={raw!r}: expected a whole number (0 = auto)")
        jobs = int(raw)
    if jobs < 0:
        raise UsageError("--jobs must be 0 (auto) or a positive number")
    if args.max_file_size <= 0:
        raise UsageError("--max-file-size must be positive")
    if args.update_baseline and not args.baseline:
        raise UsageError("--update-baseline needs --baseline F")
    if args.manifest and not os.path.isfile(args.manifest):
        raise UsageError(f"--manifest {args.manifest}: file not found")
    excludes = list(args.exclude)
    if args.baseline:
        rel = relative_exclude(args.baseline, args.path)
        if rel:
            excludes.append("/" + rel if "/" not in rel else rel)
    baseline = None
    if args.baseline and not (args.update_baseline and not os.path.exists(args.baseline)):
        baseline = baseline_mod.load(args.baseline)
    opts = ScanOptions(
        max_file_size=args.max_file_size,
        excludes=tuple(excludes),
        skip_vendored=not args.include_vendored,
        skip_minified=not args.include_minified,
        skip_generated=not args.include_generated,
        skip_lockfiles=not args.include_lockfiles,
        jobs=jobs,
    )
    return ScanRequest(
        path=args.path,
        diff_base=args.diff,
        staged=bool(args.staged),
        history=args.history,
        baseline=baseline,
        manifest=args.manifest,
        options=opts,
        config=args.config,
    )


def run(args: argparse.Namespace) -> int:
    from keyturn.scan import baseline as baseline_mod
    from keyturn.scan.api import scan
    from keyturn.scan.report import render, report_to_actions

    fmt = args.format or os.environ.get("KEYTURN_SCAN_FORMAT") or "text"
    if fmt not in FORMATS:
        raise UsageError(f"KEYTURN_SCAN_FORMAT={fmt!r}: expected one of {', '.join(FORMATS)}")
    exit_zero = args.exit_zero if args.exit_zero is not None else _env_bool("KEYTURN_SCAN_EXIT_ZERO")
    req = _request(args)
    result = scan(req)
    if args.update_baseline:
        written = baseline_mod.build(result.findings, req.baseline)
        baseline_mod.write(args.baseline, written)
        result = dataclasses.replace(result, findings=baseline_mod.mark(result.findings, written))
        result.summary.new_findings = len(result.new_findings)
        print(f"keyturn scan: wrote {len(result.findings)} finding(s) to {args.baseline}", file=sys.stderr)
    text = render(result, fmt)
    if args.output:
        _write_output(args.output, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    s = result.summary
    if args.output or fmt != "text":
        print(
            f"keyturn scan: {s.new_findings} new finding(s) of {s.findings} in {s.files_scanned} file(s), "
            f"{s.seconds:.2f}s",
            file=sys.stderr,
        )
    report_to_actions(result)
    if s.new_findings and not exit_zero:
        return int(ExitCode.CHECK_FAILED)
    return int(ExitCode.OK)
