"""Provider rules as data: the TOML files under ``keyturn/scan/rules/`` turned into detectors.

One file per provider; each holds ``provider`` and ``docs`` (where the token format is
documented) and one or more ``[[rules]]``:

``id``, ``name``        detector id (SARIF rule id) and title
``pattern``             Python regex; the secret is group ``group`` (default 1, or 0 without groups)
``keywords``            literals that any real match contains (case-sensitive; caseless for
                        ``context`` rules, where they are the context words): they feed the
                        Hyperscan prefilter, so a line without one never reaches ``pattern``
``prefilter``           optional bounded regexes used instead of ``keywords`` for short keywords
``prefix``              regex for the fixed part stripped before placeholder checks (default: the
                        keyword the value starts with)
``entropy``             minimum Shannon entropy (bits/char) of the part after the prefix
``checksum``            a documented format checksum the part after the prefix must satisfy
                        (a name in :data:`keyturn.scan.checksums.CHECKSUMS`)
``context``             words one of which must occur on the line or just before it (formats
                        without a distinctive prefix)
``confidence``          ``high`` | ``medium`` | ``low``; ``severity`` 0-10
``examples`` / ``negative_examples``  lines the rule must / must not report (the tests run them)

Rule files are validated when loaded: an unknown key or a bad regex names the file. The
shipped pack (:func:`load_rules`) leaves its regexes to compile on first use: a scan of a
small file runs a handful of them, and a bad one still raises a :class:`RuleError` naming
the file (the tests run every rule's examples, so none ships).
Imports the stdlib and keyturn.scan modules only; never stores, targets or SDKs.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources

from keyturn.scan import filters
from keyturn.scan.checksums import CHECKSUMS, age_bech32, crc32_base62, fails_format_checksum, pypi_macaroon
from keyturn.scan.detectors import Detector, Finder, Hit

__all__ = [
    "CHECKSUMS", "Rule", "RuleError", "age_bech32", "crc32_base62", "load_rules", "pypi_macaroon",
    "rule_detector", "rule_detectors",
]

_FILE_KEYS = frozenset({"provider", "docs", "rules"})
_RULE_KEYS = frozenset(
    {
        "id", "name", "description", "pattern", "group", "keywords", "prefilter", "prefix",
        "entropy", "checksum", "context", "confidence", "severity", "examples", "negative_examples",
    }
)
_ID = re.compile(r"^[a-z0-9][a-z0-9\-]{1,62}$")
_SEVERITY = {"high": 8.5, "medium": 7.0, "low": 5.0}


class RuleError(ValueError):
    """A rule file is malformed (message names the file and the key)."""


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    provider: str
    pattern: str
    keywords: tuple[str, ...]
    source: str = ""
    description: str = ""
    group: int | None = None
    prefilter: tuple[str, ...] = ()
    prefix: str | None = None
    entropy: float | None = None
    checksum: str | None = None
    context: tuple[str, ...] = ()
    confidence: str = "high"
    severity: float | None = None
    examples: tuple[str, ...] = field(default=())
    negative_examples: tuple[str, ...] = field(default=())


def _strs(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RuleError(f"{where}: expected a list of strings")
    return tuple(value)


def _num(raw: dict[str, object], key: str, where: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise RuleError(f"{where}: {key} must be a number")
    return float(value)


def parse_rules(doc: dict[str, object], source: str, *, compile_patterns: bool = True) -> list[Rule]:
    """Validate one provider file's parsed TOML and return its rules.

    ``compile_patterns=False`` skips compiling each ``pattern`` here: a bad one is then
    reported when the rule first runs, and a rule without ``group`` keeps ``None`` (the
    default, 1 if the pattern has groups else 0, is taken when it compiles)."""
    unknown = sorted(set(doc) - _FILE_KEYS)
    if unknown:
        raise RuleError(f"{source}: unknown key(s) {', '.join(unknown)}")
    provider = doc.get("provider")
    raw_rules = doc.get("rules")
    if not isinstance(provider, str) or not isinstance(raw_rules, list) or not raw_rules:
        raise RuleError(f"{source}: needs provider = \"…\" and at least one [[rules]]")
    out: list[Rule] = []
    for i, raw in enumerate(raw_rules):
        where = f"{source}: rules[{i}]"
        if not isinstance(raw, dict):
            raise RuleError(f"{where}: not a table")
        bad = sorted(set(raw) - _RULE_KEYS)
        if bad:
            raise RuleError(f"{where}: unknown key(s) {', '.join(bad)}")
        rid, pattern = raw.get("id"), raw.get("pattern")
        if not isinstance(rid, str) or not _ID.match(rid):
            raise RuleError(f"{where}: id must be lowercase letters, digits and '-'")
        if not isinstance(pattern, str):
            raise RuleError(f"{where} ({rid}): pattern missing")
        groups: int | None = None
        if compile_patterns:
            try:
                groups = re.compile(pattern).groups
            except re.error as exc:
                raise RuleError(f"{where} ({rid}): bad pattern: {exc}") from None
        checksum = raw.get("checksum")
        if checksum is not None and checksum not in CHECKSUMS:
            raise RuleError(f"{where} ({rid}): unknown checksum {checksum!r}")
        confidence = str(raw.get("confidence", "high"))
        if confidence not in _SEVERITY:
            raise RuleError(f"{where} ({rid}): confidence must be high, medium or low")
        keywords = _strs(raw.get("keywords", []), f"{where} ({rid}) keywords")
        prefilter = _strs(raw.get("prefilter", []), f"{where} ({rid}) prefilter")
        if not keywords and not prefilter:
            raise RuleError(f"{where} ({rid}): needs keywords (or prefilter) for the prefilter")
        group = raw.get("group")
        out.append(
            Rule(
                id=rid,
                name=str(raw.get("name", rid)),
                provider=provider,
                pattern=pattern,
                keywords=keywords,
                source=source,
                description=str(raw.get("description", "")),
                group=int(group) if isinstance(group, int) else None if groups is None else (1 if groups else 0),
                prefilter=prefilter,
                prefix=str(raw["prefix"]) if "prefix" in raw else None,
                entropy=_num(raw, "entropy", where),
                checksum=str(checksum) if checksum else None,
                context=tuple(w.lower() for w in _strs(raw.get("context", []), f"{where} context")),
                confidence=confidence,
                severity=_num(raw, "severity", where),
                examples=_strs(raw.get("examples", []), f"{where} ({rid}) examples"),
                negative_examples=_strs(raw.get("negative_examples", []), f"{where} ({rid}) negative_examples"),
            )
        )
    return out


@functools.cache
def load_rules() -> tuple[Rule, ...]:
    """Every rule shipped in the package (sorted by file name, then file order)."""
    folder = resources.files("keyturn.scan").joinpath("rules")
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        try:
            doc = tomllib.loads(entry.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise RuleError(f"rules/{entry.name}: {exc}") from None
        for rule in parse_rules(doc, f"rules/{entry.name}", compile_patterns=False):
            if rule.id in seen:
                raise RuleError(f"rules/{entry.name}: rule id {rule.id} already defined in {seen[rule.id]}")
            seen[rule.id] = rule.source
            rules.append(rule)
    return tuple(rules)


def _prefilter_patterns(rule: Rule) -> tuple[tuple[str, bool], ...]:
    """Token prefixes are case-sensitive literals (Hyperscan's fastest path); context words
    (``heroku``, ``datadog``) are matched in any case."""
    if rule.prefilter:
        return tuple((p, False) for p in rule.prefilter)
    return tuple((re.escape(k), bool(rule.context)) for k in rule.keywords)


def rule_finder(rule: Rule) -> Finder:
    """The precise check for one rule; the regex compiles on first use (most never run)."""
    # (pattern, prefix, context) regexes, compiled when the prefilter first sends a line:
    # a small scan runs a handful of the rules, and compiling them all costs more than it does
    compiled: list[tuple[re.Pattern[str], re.Pattern[str] | None, re.Pattern[str] | None]] = []
    keywords = tuple(k.lower() for k in rule.keywords)

    def find(line: str, text: str, offset: int, path: str = "") -> Iterator[Hit]:
        if not compiled:
            compiled.append(_compile(rule))
        rx, strip, context = compiled[0]
        group = rule.group if rule.group is not None else (1 if rx.groups else 0)
        if context is not None:
            window = text[max(0, offset - 160) : offset + len(line)]
            if not context.search(window):
                return
        for m in rx.finditer(line):
            value = m.group(group)
            if not value:
                continue
            body = _body(value, strip, keywords)
            if filters.is_false_positive(value, body=body):
                continue
            if rule.entropy is not None and filters.shannon_entropy(body) < rule.entropy:
                continue
            if fails_format_checksum(value, checksum=rule.checksum, body=body):
                continue
            if rule.context and not (filters.is_uuid(body) or filters.looks_random(body)):
                continue  # a prefix-less format: only random-looking values next to the context word
            if filters.documented_example(line[: m.start(group)]):
                continue
            yield m.start(group), m.end(group), value, 0

    return find


def _compile(rule: Rule) -> tuple[re.Pattern[str], re.Pattern[str] | None, re.Pattern[str] | None]:
    try:
        rx = re.compile(rule.pattern)
    except re.error as exc:
        raise RuleError(f"{rule.source}: {rule.id}: bad pattern: {exc}") from None
    # context words start a word: "ably" must not match "probably"
    context = (
        re.compile("(?i)(?<![a-z0-9])(?:" + "|".join(re.escape(w) for w in rule.context) + ")")
        if rule.context
        else None
    )
    return rx, re.compile(rule.prefix) if rule.prefix else None, context


def _body(value: str, strip: re.Pattern[str] | None, keywords: tuple[str, ...]) -> str:
    if strip is not None:
        pm = strip.match(value)
        return value[pm.end() :] if pm else value
    low = value.lower()
    best = max((k for k in keywords if low.startswith(k)), key=len, default="")
    return value[len(best) :] if best and len(best) < len(value) else value


def rule_detector(rule: Rule) -> Detector:
    severity = rule.severity if rule.severity is not None else _SEVERITY[rule.confidence]
    return Detector(
        rule.id,
        rule.name,
        rule.description or f"A {rule.name} ({rule.provider}).",
        _prefilter_patterns(rule),
        rule_finder(rule),
        severity,
        rule.confidence,
    )


def rule_detectors() -> tuple[Detector, ...]:
    return tuple(rule_detector(r) for r in load_rules())
