"""SARIF 2.1.0 output that GitHub code scanning accepts.

One run; ``tool.driver`` named ``keyturn`` with one rule per detector (stable ids
``keyturn/<detector>``, descriptions, help text/markdown, ``security-severity``,
``precision``, ``tags: [security]``). Results carry repo-relative URIs, full regions, a
message naming the secret type and file (and, for a history finding, the commit that
added it; ``properties.commit``/``authorDate``), a redacted snippet
(``<redacted:DETECTOR>``) and ``partialFingerprints`` derived from the rule, the path and
the line with the secret masked (:mod:`keyturn.scan.fingerprints`), so alerts survive
rescans and line moves and nobody can test a guessed value against them. Never a value
nor a fragment of one. Imports only the stdlib and keyturn.scan.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from keyturn import __version__
from keyturn.scan.detectors import Detector
from keyturn.scan.engine import all_detectors
from keyturn.scan.history import Origin, origin_of
from keyturn.scan.live import rotate_hint
from keyturn.scan.model import Finding, ScanResult
from keyturn.scan.safetext import display_path

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
MAX_RESULTS = 25_000
#: v1 hashed the value; v2 hashes the masked line (a new name, so GitHub never compares the two).
FINGERPRINT_NAME = "keyturnSecret/v2"


def _uri(path: str) -> str:
    """A relative URI for a repo path; bytes that are not UTF-8 are percent-encoded as they are."""
    return urllib.parse.quote(path.encode("utf-8", "surrogateescape"))


def _rule(det: Detector) -> dict[str, Any]:
    help_text = (
        f"{det.description} Remove it from the file and its history, revoke it at the issuer, "
        "and load it at runtime from a secret store. If it is a false positive, add "
        "`# pragma: allowlist secret` to the line or record it in the baseline."
    )
    return {
        "id": f"keyturn/{det.id}",
        "name": "".join(part.capitalize() for part in det.id.split("-")),
        "shortDescription": {"text": f"{det.title} committed to the repository"},
        "fullDescription": {"text": det.description},
        "help": {
            "text": help_text,
            "markdown": (
                f"**{det.title}** — {det.description}\n\n1. Revoke or rotate the credential at its issuer "
                "(`keyturn rotate NAME --mode emergency` for managed secrets).\n2. Remove it from the file "
                "and history.\n3. Load it at runtime from a secret store.\n\nFalse positive? Add "
                "`pragma: allowlist secret` on the line, or run `keyturn scan --baseline .secrets.baseline "
                "--update-baseline`."
            ),
        },
        "defaultConfiguration": {"level": "error"},
        "properties": {
            "tags": ["security", "secrets"],
            "security-severity": f"{det.severity:.1f}",
            "precision": det.precision,
            "problem.severity": "error",
        },
    }


def _message(f: Finding, title: str, origin: Origin | None) -> str:
    text = f"{title} found in {display_path(f.path)}."
    if origin is not None:
        text += f" It is {origin.note()}."
    if f.live is not None:
        text += (
            f" It matches the {f.live.version} value of managed secret {display_path(f.live.secret)}: "
            + rotate_hint(f.live.secret, f.path)
        )
    return text


def to_sarif(result: ScanResult) -> dict[str, Any]:
    detectors = {d.id: d for d in [*all_detectors(), *result.custom_rules]}
    used = sorted({f.detector for f in result.findings})
    rule_ids = sorted(detectors)  # every rule, so ids stay stable across runs
    index = {rid: i for i, rid in enumerate(rule_ids)}
    results: list[dict[str, Any]] = []
    findings = sorted(result.findings, key=lambda f: (f.path, f.line, f.column, f.detector))
    for f in findings[:MAX_RESULTS]:
        det = detectors.get(f.detector)
        title = det.title if det else f.detector
        origin = origin_of(result, f)
        region: dict[str, Any] = {
            "startLine": f.line,
            "startColumn": f.column,
            "endLine": max(f.end_line, f.line),
            "endColumn": max(f.end_column, 1),
            "snippet": {"text": f"<redacted:{f.detector}>"},
        }
        res: dict[str, Any] = {
            "ruleId": f"keyturn/{f.detector}",
            "level": "error",
            "message": {"text": _message(f, title, origin)},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(f.path), "uriBaseId": "%SRCROOT%"},
                        "region": region,
                    }
                }
            ],
            "partialFingerprints": {FINGERPRINT_NAME: f.fingerprint},
            "properties": {"new": not f.in_baseline},
        }
        if f.detector in index:
            res["ruleIndex"] = index[f.detector]
        if f.in_baseline:
            res["baselineState"] = "unchanged"
            res["suppressions"] = [{"kind": "external", "justification": "listed in the secrets baseline"}]
        if origin is not None:
            res["properties"]["commit"] = origin.commit
            res["properties"]["authorDate"] = origin.author_date
        if f.live is not None:
            res["properties"]["liveSecret"] = {"secret": f.live.secret, "version": f.live.version}
        results.append(res)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "keyturn",
                "informationUri": "https://github.com/keyturn/keyturn",
                "semanticVersion": __version__,
                "version": __version__,
                "rules": [_rule(detectors[rid]) for rid in rule_ids],
            }
        },
        "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The scanned repository root."}}},
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": {
            "detectorsWithFindings": used,
            "summary": result.summary.to_json(),
            "truncated": len(findings) > MAX_RESULTS,
        },
    }
    if len(findings) > MAX_RESULTS:
        run["properties"]["truncatedMessage"] = (
            f"{len(findings)} findings; only the first {MAX_RESULTS} are in this SARIF run (GitHub's limit)."
        )
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
