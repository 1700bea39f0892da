"""Value filters: documented examples, placeholders and obvious non-secrets.

Every detector's candidate passes through :func:`is_false_positive` (shared rules) and,
for the name-based generic detector, :func:`looks_random` (entropy + value shape). The
detect-secrets 1.5 heuristic filters (sequential strings, UUIDs, templated values, ``$``
prefixes, non-alphanumeric strings, lock files) are mirrored in :class:`DS` rule for rule
— importing detect-secrets costs ~0.15 s, more than most scans — and a test checks them
against detect-secrets itself. Imports only the stdlib; never stores, targets or SDKs.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import string
from collections import Counter


class DS:
    """detect-secrets 1.5 ``filters.heuristic`` rules, same semantics, no import cost."""

    _SEQUENCES = (
        string.ascii_uppercase + string.ascii_uppercase + string.digits + "+/",
        string.digits + string.ascii_uppercase + string.ascii_uppercase + "+/",
        (string.digits + string.ascii_uppercase) * 2,
        string.digits * 2,
        string.hexdigits.upper() + string.hexdigits.upper(),
        string.ascii_uppercase + "=/",
    )
    _UUID = re.compile(r"[a-f0-9]{8}\-[a-f0-9]{4}\-[a-f0-9]{4}\-[a-f0-9]{4}\-[a-f0-9]{12}", re.IGNORECASE)
    _LETTERS = frozenset(string.ascii_letters)

    @classmethod
    def is_sequential_string(cls, secret: str) -> bool:
        upper = secret.upper()
        return any(upper in seq for seq in cls._SEQUENCES)

    @classmethod
    def is_potential_uuid(cls, secret: str) -> bool:
        return bool(cls._UUID.search(secret))

    @staticmethod
    def is_templated_secret(secret: str) -> bool:
        try:
            return (
                (secret[0] == "{" and secret[-1] == "}")
                or (secret[0] == "<" and secret[-1] == ">")
                or (secret[0] == "$" and secret[1] == "{" and secret[-1] == "}")
            )
        except IndexError:
            return True

    @staticmethod
    def is_prefixed_with_dollar_sign(secret: str) -> bool:
        return bool(secret) and secret[0] == "$"

    @classmethod
    def is_not_alphanumeric_string(cls, secret: str) -> bool:
        return not (cls._LETTERS & set(secret))


ds_heuristic = DS

#: Public documentation examples (AWS, Azurite, jwt.io, Stripe/Slack docs, ...).
KNOWN_EXAMPLES = frozenset(
    {
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    }
)

_PLACEHOLDER_WORDS = (
    "example",
    "sample",
    "placeholder",
    "changeme",
    "change_me",
    "change-me",
    "changeit",
    "your",
    "redacted",
    "replace",
    "insert",
    "dummy",
    "foobar",
    "xxxx",
    "****",
    "....",
    "0000000000",
    "1234567890",
    "abcdefgh",
    "secret_here",
    "token_here",
    "notreal",
    "not-a-real",
    "not_a_real",
    "fake",
    "lorem",
    "hunter2",
    "canary",
    "password",
    "passw",
    "...",
    "secret",
    "token",
)
_TEMPLATE_MARKERS = ("${", "{{", "}}", "%(", "%s", "$(", "<", ">", "#{", "@{", "{%", "[[")
#: Markers that are unambiguous anywhere in a value (a random salt rarely holds them).
_STRONG_MARKERS = ("${",)
#: ``<name>``, ``{{ x }}``, ``%(name)s``, ``$(VAR)``, ``#{x}``: templates only when the rest of
#: the value is plain; a ``<``, ``>``, ``{{`` or ``%(`` among other punctuation is a random
#: value's (WordPress salts, Django keys), not a template.
_TEMPLATE = re.compile(
    r"<[A-Za-z_][\w\-. ]{1,40}>|<%.{0,80}?%>|\{\{[^{}]{0,80}\}\}|\{%[^%]{0,80}%\}|%\(\w+\)[a-z]|\$\([A-Za-z_]\w*\)|"
    r"[#@]\{[^{}]{0,80}\}|\[\[[^\[\]]{0,80}\]\]|%[sd](?![A-Za-z0-9])|^(?:\{\{|\}\}|\[\[|<|#\{|@\{)"
)
_PLAIN_REST = re.compile(r"[\w\-./:@=+]*")


def _templated(value: str) -> bool:
    if any(m in value for m in _STRONG_MARKERS):
        return True
    rest = _TEMPLATE.sub("", value)
    return rest != value and _PLAIN_REST.fullmatch(rest) is not None


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_INTEGRITY = re.compile(r"^(?:sha(?:1|256|384|512)[-:=]|md5[-:=])", re.IGNORECASE)
_WORDY = re.compile(r"^[_\-.]*[A-Za-z]+(?:[_\-. ]+[A-Za-z]+)*[_\-.]*[0-9]{0,4}$")
_DELIMITED_WORD = re.compile(
    r"(?i)(?:^|[-_.])(?:your|my|fake|dummy|example|sample|placeholder|replace|insert|changeme|redacted|test|"
    r"token|secret|key|here|goes)(?:[-_.]|$)"
)
_LEET = str.maketrans(
    {"@": "a", "4": "a", "5": "s", "$": "s", "0": "o", "1": "l", "3": "e", "7": "t", "!": "i"}
)
_REPEAT = re.compile(r"(.)\1{5,}")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}|$)")
_EXPRESSION = re.compile(r"\[-?\d*\]\.|[A-Za-z_]\w*\(\)(?:$|[.\[])")
_DOTTED3 = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*){2,}$")
#: One part of a dotted name: snake_case, CONSTANT, camelCase / PascalCase words, or short.
_NAME_PART = re.compile(
    r"[a-z_][a-z0-9_]*|[A-Z_][A-Z0-9_]*|[A-Za-z][a-z]*(?:[A-Z][a-z]+)*[A-Z]?[0-9]*|\w{1,4}"
)


def is_dotted_name(value: str) -> bool:
    """``settings.DB_PASSWORD``, ``config.getPassword``, ``db.internal.example`` — but not a
    random value that a ``.`` happens to split (``W7dHZ8nlK.qcN27J``)."""
    parts = value.split(".")
    return len(parts) > 1 and all(_NAME_PART.fullmatch(p) for p in parts)


LOCK_FILE_NAMES = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "poetry.lock",
        "Pipfile.lock",
        "Cargo.lock",
        "go.sum",
        "composer.lock",
        "Gemfile.lock",
        "uv.lock",
        "pdm.lock",
        "mix.lock",
        "packages.lock.json",
        "flake.lock",
        "bun.lock",
        "Podfile.lock",
    }
)


def shannon_entropy(value: str) -> float:
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def is_placeholder(value: str) -> bool:
    """Template references, ``<your-token>``, ``changeme``, ``xxxx…`` and friends."""
    low = value.lower()
    if _templated(value):
        return True
    if _has_placeholder_word(value, low):
        return True
    leet = "".join(c for c in low.translate(_LEET) if c.isalpha())
    if leet != low and any(w in leet for w in ("password", "secret", "changeme", "letmein", "admin")):
        return True  # P@55w0rd!, s3cr3t, n3w-p@ss/word: test-fixture words, not credentials
    if _REPEAT.search(value):
        return True
    return bool(ds_heuristic.is_templated_secret(value) or ds_heuristic.is_prefixed_with_dollar_sign(value))


_PLACEHOLDER_RX = re.compile("|".join(re.escape(w) for w in _PLACEHOLDER_WORDS))


def _has_placeholder_word(value: str, low: str) -> bool:
    """A placeholder word written as a word (``your``, ``YOUR``, ``Your``, ``ChangeMe``), not
    letters of a random value that happen to spell it in mixed case (``yOuR``, ``xXXx``)."""
    for m in _PLACEHOLDER_RX.finditer(low):
        s, e = m.span()
        t = value[s:e]
        if t.islower() or t.isupper() or not any(c.isalpha() for c in t):
            return True
        if t[0].isupper() and t[1:].islower():
            return True
        before = value[s - 1] if s else ""
        after = value[e] if e < len(value) else ""
        start_ok = not before.isalpha() or (t[0].isupper() and before.islower())
        end_ok = not after.isalpha() or after.isupper()
        camel = not t[-1].isupper() and not any(
            a.isupper() and b.isupper() for a, b in zip(t, t[1:], strict=False)
        )
        if start_ok and end_ok and camel:
            return True  # CamelCase words: ChangeMe, YourApiKey
    return False


def is_known_example(value: str) -> bool:
    return value in KNOWN_EXAMPLES or "EXAMPLE" in value


def _prefixed_placeholder(value: str, body: str) -> bool:
    """For fixed-prefix tokens: words count only as delimited words (``xoxb-your-token``),
    since a random body can contain ``YouR`` or ``fAke`` by chance."""
    if is_known_example(value) or any(m in value for m in _TEMPLATE_MARKERS) or _REPEAT.search(body):
        return True
    if _DELIMITED_WORD.search(body) or "..." in body or "xxxx" in body or "XXXX" in body:
        return True
    return body.replace("-", "").replace("_", "").isalpha() and body.islower()


def is_false_positive(value: str, *, body: str | None = None) -> bool:
    """Shared rules for every detector. ``body`` is the random part after a fixed prefix."""
    if body is not None and body != value:
        if _prefixed_placeholder(value, body):
            return True
    elif is_known_example(value) or is_placeholder(value):
        return True
    body = value if body is None else body
    if ds_heuristic.is_sequential_string(body):
        return True
    return len(body) >= 12 and shannon_entropy(body) < 2.5


def obviously_fake(text: str) -> bool:
    """Cheap check on a loose match (name + value): documented examples, xxxx, repeats."""
    return (
        is_known_example(text)
        or bool(_REPEAT.search(text))
        or any(m in text for m in ("xxxx", "XXXX", "****", "...", "${", "{{", "<"))
    )


def is_non_secret_shape(value: str) -> bool:
    """UUIDs, integrity hashes, data URIs, public keys, versions, paths, e-mail addresses."""
    if _UUID.match(value) or _TIMESTAMP.match(value) or _EXPRESSION.search(value):
        return True
    if _DOTTED3.match(value) and (is_dotted_name(value) or value.startswith("eyJ")):
        return True  # dotted names; JWT shapes are the jwt detector's to judge
    if ds_heuristic.is_potential_uuid(value):
        return True
    low = value.lower()
    if low.startswith(
        ("data:", "urn:", "ssh-", "ecdsa-", "sk-ssh-", "http://", "https://", "file:", "arn:", "./", "../")
    ):
        return True
    if value.startswith("AAAAB3NzaC1") or _INTEGRITY.match(value):
        return True
    if _EMAIL.match(value):
        return True
    return ds_heuristic.is_not_alphanumeric_string(value)


_B64_VALUE = re.compile(r"[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_\-]+={0,2}")


def _decodes_to_text(value: str) -> bool:
    """Base64 of readable text (JSON pagination tokens, encoded documents) is not a key."""
    if len(value) < 16 or len(value) % 4 not in (0, 2, 3) or not _B64_VALUE.fullmatch(value):
        return False
    try:
        raw = base64.b64decode(
            value + "=" * (-len(value) % 4),
            altchars=b"-_" if "-" in value or "_" in value else None,
            validate=True,
        )
    except (binascii.Error, ValueError):
        return False
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    if printable < 0.95 * max(len(text), 1):
        return False
    stripped = text.strip()
    if stripped[:1] in "{[":
        try:
            json.loads(stripped)
            return True
        except ValueError:
            pass
    return sum(ch.isalpha() or ch == " " for ch in text) > 0.85 * len(text)


_LOWER_RUNS = re.compile(r"[a-z]+")
_CAMEL = re.compile(r"[a-z]*(?:[A-Z][a-z]+)+")


_SEGMENT = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_CONSONANTS4 = re.compile(r"[b-df-hj-np-tv-xz]{4,}", re.IGNORECASE)


def _wordlike(letters: str) -> bool:
    """Every CamelCase segment has a vowel and no run of 4+ consonants (MyAppKey, not HfEocxrjr)."""
    segments = _SEGMENT.findall(letters)
    return bool(segments) and all(
        any(c in "aeiouyAEIOUY" for c in seg) and not _CONSONANTS4.search(seg) for seg in segments
    )


def _random_letters(value: str, *, min_letters: int = 16, min_entropy: float = 3.5) -> bool:
    """Random mixed-case letters (dbbJHypYsVTzDpLh) vs identifiers (DescribeInstances):
    identifiers are made of words, so their lowercase runs are long."""
    letters = "".join(c for c in value if c.isalpha())
    if len(letters) < min_letters or (_CAMEL.fullmatch(letters) and _wordlike(letters)):
        return False
    runs = [len(r) for r in _LOWER_RUNS.findall(letters)]
    if not runs or max(runs) >= 7 or sum(runs) / len(runs) >= 3.2:
        return False
    upper = sum(c.isupper() for c in letters) / len(letters)
    return 0.15 <= upper <= 0.85 and shannon_entropy(value) >= min_entropy


def looks_random(value: str, *, strict: bool = False) -> bool:
    """Entropy + shape test for values found only by their name (generic-secret)."""
    n = len(value)
    if n < 8 or n > 512 or " " in value:
        return False
    if is_non_secret_shape(value) or _decodes_to_text(value) or is_structured_non_secret(value):
        return False
    if value.isalpha():
        return _random_letters(value)  # letters only: random case mix, or words/identifiers
    if _WORDY.match(value) and not _random_letters(value, min_letters=10, min_entropy=3.4):
        return False  # identifiers and phrases: django_tests_secret_key, MySecret1
    entropy = shannon_entropy(value)
    if _HEX.match(value):
        return n >= 20 and entropy >= 3.0  # shorter hex strings are ids and truncated hashes
    classes = sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
            any(not c.isalnum() for c in value),
        )
    )

    need = 3.5 if strict else 3.0
    if n < 12:
        return classes >= 3 and entropy >= 2.8 and not strict
    return classes >= 2 and entropy >= need


_LETTERS_VALUE = re.compile(r"[A-Za-z][A-Za-z_\-]{15,127}")


def random_letters_value(value: str) -> bool:
    """A long random mix of upper- and lowercase letters (``_``/``-`` allowed, no digit) under
    an explicit password/secret name: ``some_snake_case_identifier`` and CamelCase words stay out."""
    if not _LETTERS_VALUE.fullmatch(value):
        return False
    letters = "".join(c for c in value if c.isalpha())
    if len(letters) < 16 or _CAMEL.fullmatch(letters) and _wordlike(letters):
        return False
    if any(_CAMEL.fullmatch(p) and _wordlike(p) for p in re.split(r"[_\-]+", value) if len(p) > 6):
        return False  # Some_Snake_Identifier, ProdDatabase_password
    upper = sum(c.isupper() for c in letters) / len(letters)
    runs = [len(r) for r in _LOWER_RUNS.findall(letters)]
    changes = sum(a.isupper() != b.isupper() for a, b in zip(letters, letters[1:], strict=False))
    return (
        0.15 <= upper <= 0.85
        and max(runs, default=0) < 11
        and changes >= len(letters) // 5
        and shannon_entropy(value) >= 3.5
    )


def is_uuid(value: str) -> bool:
    return bool(_UUID.match(value))


_DOC_PHRASE = re.compile(
    r"(?i)(?:for example|e\.g\.|\bi\.e\.|looks (?:something )?like(?: this)?|such as|\bexample\b[^A-Za-z0-9]{0,4})"
    r"[^A-Za-z0-9]{0,40}$"
)


def documented_example(before: str) -> bool:
    """The text just before a value on its line introduces an example (``e.g.``, ``Example -``,
    ``A token looks something like this: <code>sp=r&…``): documentation, not a leak."""
    before = before[-300:]
    cut = max(before.rfind(c) for c in " \t\"'>`(")  # back to the start of the value's word
    head = _HTML_TAG.sub(" ", before[: cut + 1])
    return bool(_DOC_PHRASE.search(before) or _DOC_PHRASE.search(head))


_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]{0,10}>")


_DOC_BLOCK = re.compile(r"""(?m)^(?:EXAMPLES|DOCUMENTATION|RETURN)[ \t]*=[ \t]*[rRuU]?(\'\'\'|\"\"\")""")


def doc_block_ranges(path: str, text: str) -> list[tuple[int, int]]:
    """Character ranges of Ansible-style module documentation (``EXAMPLES = r\'\'\'…\'\'\'``,
    ``DOCUMENTATION``, ``RETURN``) in a Python file: sample playbooks, not configuration."""
    if not path.endswith(".py") or "EXAMPLES" not in text and "DOCUMENTATION" not in text:
        return []
    out: list[tuple[int, int]] = []
    for m in _DOC_BLOCK.finditer(text):
        end = text.find(m.group(1), m.end())
        out.append((m.end(), len(text) if end < 0 else end))
    return out


_STATIC_MEMBER = re.compile(r":[A-Za-z_]\w*")  # the rest of PowerShell's [Type]::Member
_CRYPT_HASH = re.compile(r"(?:^|:)\$(?:2[abxy]?|apr1|1|5|6|y|argon2(?:id|i|d))\$")
_PATH_SEGMENT = re.compile(r"[A-Za-z_][\w\-.]*|\{\w*\}|[\w.\-]{1,3}")
_LOWER_PATH = re.compile(r"(?:[a-z]+:)?/?(?:[a-z0-9_.\-{}]+/)+[a-z0-9_.\-{}]*")
_RUN = re.compile(r"[A-Za-z]+|[0-9]+")
_ID_TOKEN = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_DIGIT_LEET = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})


def _periodic(value: str) -> bool:
    """``0123456789abcdef0123…``, ``abcabcabc``: a short pattern repeated."""
    n = len(value)
    return any(n >= 2 * p and value == (value[:p] * (n // p + 1))[:n] for p in range(1, 17))


def _sequential_runs(value: str) -> bool:
    """``123456abcdefg``: every letter/digit run is a piece of the alphabet or of 0-9."""
    runs = _RUN.findall(value.lower())
    return bool(runs) and len(runs) <= 3 and all(
        len(r) >= 3 and (r in "0123456789" or r in string.ascii_lowercase) for r in runs
    )


def _path_like(value: str) -> bool:
    """``v1/objects/users/{}``, ``/home/user/my_key.key``, ``exec:/usr/libexec/x``: paths of names."""
    if "/" not in value:
        return False
    if value.count("/") >= 2 and _LOWER_PATH.fullmatch(value):
        return True
    parts = [p for p in re.split(r"[/:]", value) if p]
    return len(parts) >= 2 and all(_PATH_SEGMENT.fullmatch(p) and (len(p) <= 3 or _wordy_part(p)) for p in parts)


def _wordy_part(part: str) -> bool:
    letters = "".join(c if c.isalpha() else " " for c in part).split()
    return all(len(w) <= 3 or _wordlike(w) for w in letters)


def _camel_identifier(value: str) -> bool:
    """``manageOwnS3Credentials``: CamelCase words with digits, not a random mix."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{7,80}", value):
        return False
    tokens = _ID_TOKEN.findall(value)
    letters = sum(len(t) for t in tokens if t.isalpha())
    wordy = sum(len(t) for t in tokens if t.isalpha() and len(t) >= 4 and _wordlike(t))
    return len(tokens) >= 3 and letters > 0 and wordy >= 0.8 * letters


_WORD = r"(?:[A-Z]?[a-z]+|[A-Z]+)(?:[A-Z]+[a-z]*){0,2}"
#: word + digits (Testing@123, Cluster1!, #testABCdef1234!), digits + word (#1234Abc, #123Dell456!)
_MEMORABLE = re.compile(
    r"[#!@$*]?(?:" + _WORD + r"[@#!$._\-]?\d{1,6}[!@#$%*.]{0,2}\d{0,4}|\d{1,6}" + _WORD + r"\d{0,6})[!@#$%*.]?"
)
#: leetspeak words once digits are read as letters (0th3rP@ss, The3rubberducki33!, C1sco12345)
_LEET_WORDS = re.compile(r"[#!@$*]?(?:[A-Z]?[a-z]+){1,3}[!@#$%*.]{0,2}\d{0,6}[!@#$%*.]?")


def memorable_password(value: str) -> bool:
    """A short human-chosen password (``Testing@123``, ``The3rubberducki33!``, ``0th3rP@ss``):
    sample and lab passwords in documentation and test playbooks, not generated credentials."""
    if len(value) > 20 or len(value) < 6:
        return False
    if _MEMORABLE.fullmatch(value):
        return True
    inner = _INNER_LEET.sub(lambda m: m.group().translate(_DIGIT_LEET), value)  # leet inside words only
    return _LEET_WORDS.fullmatch(inner) is not None and any(c.isdigit() for c in value)


_INNER_LEET = re.compile(r"(?<=[A-Za-z])[013457@$]+(?=[A-Za-z])|^[0@$](?=[A-Za-z])")


def is_structured_non_secret(value: str) -> bool:
    """Shapes a generated secret does not have: a PowerShell ``::Member``, a crypt/bcrypt hash,
    a path of names, a repeated or alphabet-sequence pattern, a CamelCase identifier, or a
    short memorable password."""
    if _STATIC_MEMBER.fullmatch(value) or _CRYPT_HASH.search(value):
        return True
    return (
        _periodic(value)
        or _sequential_runs(value)
        or _path_like(value)
        or _camel_identifier(value)
        or memorable_password(value)
    )
