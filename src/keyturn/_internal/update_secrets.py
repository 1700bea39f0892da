"""Entry point of the ``update-secrets`` action: paced, verified fan-out of given values.

For users who rotate elsewhere and need only keyturn's GitHub fan-out. Values never come
from an input string: ``KEYTURN_SECRETS`` maps each secret name to the *environment
variable* or *file* that holds its value (``NAME=ENV_VAR`` or ``NAME=@path``), and
``KEYTURN_TARGETS`` lists the scopes (``repo:owner/name``, ``env:owner/name:ENVIRONMENT``,
``dependabot:owner/name``, ``org:ORG[:all|private|selected:owner/a,owner/b]``,
``org-dependabot:ORG[:…]``). Every value is a :class:`~keyturn.values.SecretValue` (masked
in Actions) before anything is printed; each scope is written through
:mod:`keyturn.targets.github` (sealed boxes, pacing, ``updated_at`` confirmation). Outputs:
``written`` (secret×target count) and ``targets``; a step-summary table names secrets
and scopes only. Exit codes as the CLI. Must not import a store or the engine.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from keyturn import gha
from keyturn.errors import KeyturnError, UsageError
from keyturn.values import SecretValue

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REPO = r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+"


def parse_secrets(text: str, environ: Mapping[str, str], base: Path) -> list[tuple[str, SecretValue]]:
    out: list[tuple[str, SecretValue]] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, source = (part.strip() for part in line.partition("="))
        if not sep or not _NAME.match(name) or not source:
            raise UsageError(f"secrets line {number}: expected NAME=ENV_VAR or NAME=@file")
        if source.startswith("@"):
            path = (base / source[1:]).resolve()
            try:
                raw = path.read_text(encoding="utf-8").removesuffix("\n")
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"secrets line {number}: {name}: cannot read {source[1:]} "
                                 f"({type(exc).__name__})") from None
        else:
            if not _NAME.match(source):
                raise UsageError(f"secrets line {number}: {name}: the right-hand side is not an environment variable name "
                                 "(values never go in inputs: put the value in env and name the variable)")
            raw = environ.get(source, "")
            if not raw:
                raise UsageError(f"secrets line {number}: {name}: environment variable {source} is empty or unset")
        out.append((name, SecretValue(raw)))
    if not out:
        raise UsageError("secrets: nothing to write (one NAME=ENV_VAR or NAME=@file per line)")
    return out


def parse_targets(text: str, session: Any) -> list[Any]:
    from keyturn.targets.github import GitHubOrgSecretTarget, GitHubRepoSecretTarget

    out: list[Any] = []
    for spec in text.split():
        kind, _, rest = spec.partition(":")
        if kind in ("repo", "dependabot") and re.fullmatch(_REPO, rest):
            out.append(GitHubRepoSecretTarget(session, rest, dependabot=kind == "dependabot"))
        elif kind == "env" and (m := re.fullmatch(rf"({_REPO}):([A-Za-z0-9_. -]+)", rest)):
            out.append(GitHubRepoSecretTarget(session, m.group(1), environment=m.group(2)))
        elif kind in ("org", "org-dependabot") and (m := re.fullmatch(r"([A-Za-z0-9-]+)(?::(all|private|selected)"
                                                                      r"(?::([^\s]+))?)?", rest)):
            repos = [r for r in (m.group(3) or "").split(",") if r]
            out.append(GitHubOrgSecretTarget(session, m.group(1), visibility=m.group(2) or "private",  # type: ignore[arg-type]
                                             repositories=repos, dependabot=kind == "org-dependabot"))
        else:
            raise UsageError(f"targets: {spec!r} is not repo:OWNER/NAME, env:OWNER/NAME:ENV, dependabot:OWNER/NAME, "
                             "org:ORG[:VISIBILITY[:REPOS]] or org-dependabot:ORG[…]")
    if not out:
        raise UsageError("targets: name at least one scope, e.g. repo:acme/api")
    return out


def run(environ: Mapping[str, str]) -> int:
    from keyturn._internal.github_client import GitHubSession
    from keyturn.targets.base import Entry

    base = Path(environ.get("GITHUB_WORKSPACE") or os.getcwd())
    values = parse_secrets(environ.get("KEYTURN_SECRETS", ""), environ, base)
    targets = parse_targets(environ.get("KEYTURN_TARGETS", ""), GitHubSession.from_env(environ))
    entries = [Entry(name, value) for name, value in values]
    for target in targets:  # everything GitHub would refuse is refused before the first write
        target.preflight(entries)
    rows: list[str] = []
    for target in targets:
        report = target.write(entries)
        confirmed = report.confirmed_at.strftime("%Y-%m-%dT%H:%M:%SZ") if report.confirmed_at else "—"
        for name, _ in values:
            how = "created" if name in (report.details.get("created") or "").split(",") else "updated"
            rows.append(f"| {name} | {target.label} | {how} | {confirmed} |\n")
        sys.stdout.write(f"{target.label}: wrote {', '.join(n for n, _ in values)} (confirmed {confirmed})\n")
    gha.set_output("written", str(len(rows)))
    gha.set_output("targets", " ".join(t.label for t in targets))
    gha.append_summary("### keyturn update-secrets\n\n| secret | target | result | confirmed (updated_at) |\n"
                       "|---|---|---|---|\n" + "".join(rows))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(dict(os.environ))
    except KeyturnError as exc:
        sys.stderr.write(f"keyturn update-secrets: error: {exc}\n")
        return int(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - never print str(exc): it may carry payloads
        sys.stderr.write(f"keyturn update-secrets: internal error: {type(exc).__name__} — report it\n")
        return 4


if __name__ == "__main__":
    sys.exit(main())
