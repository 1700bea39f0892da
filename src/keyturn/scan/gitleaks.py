"""gitleaks-compatible custom rules: ``keyturn scan --config .gitleaks.toml``.

Teams moving from gitleaks keep their own ``[[rules]]`` and allowlists. Supported keys:

- ``title``; ``[extend] useDefault`` (keyturn's own detectors always run; ``true`` is accepted);
- ``[[rules]]``: ``id``, ``description``, ``regex``, ``secretGroup``, ``entropy``, ``keywords``,
  ``path`` (a regex the file path must match), ``tags``, and ``[rules.allowlist]`` or
  ``[[rules.allowlists]]``;
- allowlists (rule-level and global ``[allowlist]`` / ``[[allowlists]]``): ``description``,
  ``regexes``, ``regexTarget`` (``secret`` | ``match`` | ``line``), ``paths``, ``stopwords``,
  ``condition`` (``OR`` | ``AND``, rule level).

Anything else (``[extend] path``, ``disabledRules``, ``commits``, ``[[rules.required]]``, a
path-only rule…) is refused with one line naming the key: a silently ignored allowlist or
rule would change what the gate reports. Regexes are Go RE2 syntax; the RE2 forms Python
spells differently (``\\z``, POSIX classes such as ``[[:alnum:]]``) are translated. A rule is
checked line by line (gitleaks matches whole fragments), so a regex meant to span lines does
not match. Imports the stdlib and keyturn.scan modules; never stores, targets or SDKs.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field

from keyturn.errors import UsageError
from keyturn.scan import filters
from keyturn.scan.detectors import Detector, Hit

__all__ = ["Allowlist", "CustomConfig", "CustomRule", "load_config", "parse_config"]

_TOP = {"title", "description", "extend", "rules", "allowlist", "allowlists"}
_EXTEND = {"useDefault"}
#: what a custom rule id may be: it is printed in text reports, SARIF and ``::error`` lines
RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_RULE = {"id", "description", "regex", "secretGroup", "entropy", "keywords", "path", "tags",
         "allowlist", "allowlists"}
_ALLOW = {"description", "regexes", "regexTarget", "paths", "stopwords", "condition", "targetRules"}
_POSIX = {
    "alnum": "A-Za-z0-9", "alpha": "A-Za-z", "digit": "0-9", "lower": "a-z", "upper": "A-Z",
    "space": r"\s", "xdigit": "0-9A-Fa-f", "word": r"\w", "punct": r"!-/:-@\[-`{-~",
}


@dataclass(frozen=True)
class Allowlist:
    regexes: tuple[str, ...] = ()
    target: str = "secret"
    paths: tuple[str, ...] = ()
    stopwords: tuple[str, ...] = ()
    condition: str = "OR"
    rules: tuple[str, ...] = ()  # global [[allowlists]] targetRules: empty = every rule


@dataclass(frozen=True)
class CustomRule:
    id: str
    description: str
    regex: str
    group: int | None
    entropy: float | None
    keywords: tuple[str, ...]
    path: str | None
    allowlists: tuple[Allowlist, ...] = ()


@dataclass(frozen=True)
class CustomConfig:
    source: str
    rules: tuple[CustomRule, ...] = ()
    allowlists: tuple[Allowlist, ...] = field(default=())


def go_regex(pattern: str) -> str:
    """RE2 → Python ``re``: ``\\z`` and POSIX bracket classes; everything else is shared."""
    out = pattern.replace(r"\z", r"\Z")
    return re.sub(r"\[:(\^?)(\w+):\]", lambda m: _POSIX.get(m.group(2), m.group(0)) if not m.group(1)
                  else m.group(0), out)


def _fail(source: str, what: str) -> UsageError:
    return UsageError(f"--config {source}: {what}")


def _unknown(source: str, where: str, got: dict[str, object], allowed: set[str]) -> None:
    bad = sorted(set(got) - allowed)
    if bad:
        raise _fail(source, f"unsupported key(s) in {where}: {', '.join(bad)}")


def _strs(source: str, where: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(source, f"{where} must be a list of strings")
    return tuple(value)


def _compile(source: str, where: str, pattern: str) -> str:
    converted = go_regex(pattern)
    try:
        re.compile(converted)
    except re.error as exc:
        raise _fail(source, f"{where}: regex does not compile ({exc})") from None
    return converted


def _allowlist(source: str, where: str, raw: object, *, global_: bool) -> Allowlist:
    if not isinstance(raw, dict):
        raise _fail(source, f"{where} must be a table")
    allowed = _ALLOW if global_ else _ALLOW - {"targetRules"}
    _unknown(source, where, raw, allowed)
    target = raw.get("regexTarget", "secret")
    if target not in ("secret", "match", "line"):
        raise _fail(source, f"{where}.regexTarget must be secret, match or line")
    condition = str(raw.get("condition", "OR")).upper()
    if condition not in ("OR", "AND"):
        raise _fail(source, f"{where}.condition must be OR or AND")
    regexes = tuple(_compile(source, f"{where}.regexes", r) for r in _strs(source, f"{where}.regexes", raw.get("regexes")))
    paths = tuple(_compile(source, f"{where}.paths", r) for r in _strs(source, f"{where}.paths", raw.get("paths")))
    return Allowlist(
        regexes=regexes,
        target=str(target),
        paths=paths,
        stopwords=tuple(w.lower() for w in _strs(source, f"{where}.stopwords", raw.get("stopwords"))),
        condition=condition,
        rules=_strs(source, f"{where}.targetRules", raw.get("targetRules")),
    )


def _allowlists(source: str, where: str, raw: dict[str, object], *, global_: bool) -> list[Allowlist]:
    out: list[Allowlist] = []
    if "allowlist" in raw:
        out.append(_allowlist(source, f"{where}allowlist", raw["allowlist"], global_=global_))
    many = raw.get("allowlists", [])
    if not isinstance(many, list):
        raise _fail(source, f"{where}allowlists must be an array of tables")
    out.extend(_allowlist(source, f"{where}allowlists[{i}]", a, global_=global_) for i, a in enumerate(many))
    return out


def parse_config(doc: dict[str, object], source: str) -> CustomConfig:
    _unknown(source, "the top level", doc, _TOP)
    extend = doc.get("extend", {})
    if not isinstance(extend, dict):
        raise _fail(source, "[extend] must be a table")
    _unknown(source, "[extend]", extend, _EXTEND)
    if extend.get("useDefault", True) is not True:
        raise _fail(source, "[extend] useDefault = false is not supported (keyturn's own detectors always run)")
    raw_rules = doc.get("rules", [])
    if not isinstance(raw_rules, list):
        raise _fail(source, "rules must be [[rules]] tables")
    rules: list[CustomRule] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_rules):
        if not isinstance(raw, dict):
            raise _fail(source, f"rules[{i}] must be a table")
        rid = raw.get("id")
        where = f"rule {rid!r}" if isinstance(rid, str) else f"rules[{i}]"
        _unknown(source, where, raw, _RULE)
        if not isinstance(rid, str) or not rid:
            raise _fail(source, f"{where}: id is required")
        if not RULE_ID.match(rid):
            raise _fail(source, f"rules[{i}]: id must be 1–64 letters, digits, '.', '_' or '-' (it is printed in "
                                "reports, SARIF and Actions annotations)")
        if rid in seen:
            raise _fail(source, f"{where}: duplicate id")
        seen.add(rid)
        regex = raw.get("regex")
        if not isinstance(regex, str):
            raise _fail(source, f"{where}: regex is required (path-only rules are not supported)")
        group = raw.get("secretGroup")
        entropy = raw.get("entropy")
        if group is not None and (not isinstance(group, int) or isinstance(group, bool) or group < 0):
            raise _fail(source, f"{where}: secretGroup must be a whole number")
        if entropy is not None and (not isinstance(entropy, (int, float)) or isinstance(entropy, bool)):
            raise _fail(source, f"{where}: entropy must be a number")
        converted = _compile(source, f"{where}.regex", regex)
        if group is not None and group > re.compile(converted).groups:
            raise _fail(source, f"{where}: secretGroup {group} but the regex has fewer groups")
        path = raw.get("path")
        if path is not None and not isinstance(path, str):
            raise _fail(source, f"{where}: path must be a regex string")
        rules.append(
            CustomRule(
                id=rid,
                description=str(raw.get("description", rid)),
                regex=converted,
                group=group,
                entropy=float(entropy) if entropy is not None else None,
                keywords=tuple(k.lower() for k in _strs(source, f"{where}.keywords", raw.get("keywords"))),
                path=_compile(source, f"{where}.path", path) if path else None,
                allowlists=tuple(_allowlists(source, f"{where}.", raw, global_=False)),
            )
        )
    return CustomConfig(source, tuple(rules), tuple(_allowlists(source, "", doc, global_=True)))


def load_config(path: str) -> CustomConfig:
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise _fail(path, f"cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, f"not valid TOML ({exc})") from None
    return parse_config(doc, path)


# -- matching -----------------------------------------------------------------------
def allowed(lists: tuple[Allowlist, ...], rule_id: str, path: str, line: str, match: str, secret: str) -> bool:
    """True if any allowlist (for this rule) exempts this finding."""
    for a in lists:
        if a.rules and rule_id not in a.rules:
            continue
        target = {"secret": secret, "match": match, "line": line}[a.target]
        checks = []
        if a.regexes:
            checks.append(any(re.search(r, target) for r in a.regexes))
        if a.paths:
            checks.append(any(re.search(r, path) for r in a.paths))
        if a.stopwords:
            checks.append(any(w in secret.lower() for w in a.stopwords))
        if checks and (all(checks) if a.condition == "AND" else any(checks)):
            return True
    return False


def _prefilter(rule: CustomRule) -> tuple[tuple[str, bool], ...]:
    """Keywords feed the Hyperscan prefilter; a rule without any runs its regex over each file."""
    return tuple((re.escape(k), True) for k in rule.keywords)


def custom_detectors(config: CustomConfig) -> tuple[Detector, ...]:
    return tuple(_detector(r) for r in config.rules)


def _detector(rule: CustomRule) -> Detector:
    rx = re.compile(rule.regex)
    path_rx = re.compile(rule.path) if rule.path else None
    group = rule.group if rule.group is not None else (1 if rx.groups else 0)

    def find(line: str, text: str, offset: int, path: str = "") -> Iterator[Hit]:
        if path_rx is not None and not path_rx.search(path):
            return
        if rule.keywords and not any(k in line.lower() for k in rule.keywords):
            return
        for m in rx.finditer(line):
            secret = m.group(group) or ""
            if not secret:
                continue
            if rule.entropy is not None and filters.shannon_entropy(secret) < rule.entropy:
                continue
            if allowed(rule.allowlists, rule.id, path, line, m.group(0), secret):
                continue
            yield m.start(group), m.end(group), secret, 0

    return Detector(rule.id, rule.description, f"{rule.description} (custom rule)", _prefilter(rule), find,
                    7.5, "medium", fulltext=None if rule.keywords else rule.regex)
