"""The ``generic-secret`` detector: random-looking values assigned to secret-ish names.

``password = "…"``, ``API_KEY=…``, ``"client_secret": "…"``, ``export TOKEN=…``,
``<password>…</password>``, ``Authorization: Bearer …``, Markdown ``| `SECRET_KEY` |
`…` |``, ``os.getenv("API_KEY", "…")``, ``process.env.TOKEN || "…"``, Kubernetes
``- name: DB_PASSWORD`` / ``value: …`` and AWS secret access keys. The value must pass an
entropy + shape test (:func:`keyturn.scan.filters.looks_random`), and the name must not
be a code reference or a known non-secret (``NextToken``, ``key_id``, ``secret_name``,
``password_length``…). Also ``<property name="dbPassword" value="…"/>``,
``props.setProperty("smtp.password", "…")`` and Ruby ``ENV["TOKEN"] ||= "…"``; typed constants
(``CLIENT_SECRET: &str = "…"``, Go ``apiKey string = "…"``), Postman/JSON ``{"key": "x-api-key",
"value": "…"}``, ``.netrc`` ``machine … login … password …`` and JSON-escaped notebook source
(``TOKEN = \\"…\\"``). Stripe test/publishable keys (``sk_test_``, ``pk_live_``…) are never
generic findings, nor is a ``ghp_…`` / ``npm_…`` / ``pypi-…`` value whose format checksum
fails (:func:`keyturn.scan.checksums.fails_format_checksum`). Unquoted values count only in
config-like files and shell ``export``/Dockerfile ``ARG`` lines. Deliberately strict: zero findings on botocore/django.
Imports only the stdlib and keyturn.scan modules; never stores, targets or SDKs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from keyturn.scan import filters
from keyturn.scan.checksums import fails_format_checksum
from keyturn.scan.detectors import Detector, Hit, ci
from keyturn.scan.finders import find_aws_secret

_KW = r"(?:pass|pwd|secret|token|key|credential)"
PREFILTER = ci(
    _KW + r"[\w.\-$]{0,80}[\"'`]?\]?[ \t]*(?::=|=>|=|:|\?=|\+=|\.=)[ \t]*[rRbBuU]?"
    # the value holds a digit/symbol, or is a long run of letters (CamelCase names are not secrets)
    r"(?:[\"'`](?:[A-Za-z]{0,120}[^A-Za-z\s\"'`]|[A-Za-z]{16})|[A-Za-z]{0,120}[^A-Za-z\s\"'`,;#&)(\[\]{}<>]|[A-Za-z]{16})",
    r"<[\w.\-:]*" + _KW + r"[\w.\-:]*>[^<\s]{8}",
    # an XML element whose value sits on the next line: <password>\n  VALUE\n</password>
    r"<[\w.\-:]*" + _KW + r"[\w.\-:]*>[ \t]*\r?\n",
    r"bearer[ \t]+[A-Za-z0-9\-._~+/]{16}",
    r"`[\w.\-]*" + _KW + r"[\w.\-]*`[^`\n]{0,16}`[^`\s]{8}",
    _KW + r"[\w.\-]*[\"'][ \t]*,[ \t]*[\"'][^\"'\s]{8}",
    _KW + r"[^\n]{0,120}(?:\|\||\?\?)=?[ \t]*[\"'`][^\"'`\s]{8}",
    r"(?:name|key)[ \t]*=[ \t]*[\"'][^\"'\n]{0,80}"
    + _KW
    + r"[^\"'\n]{0,80}[\"'][^>\n]{0,80}value[ \t]*=[ \t]*[\"'][^\"'\s]{8}",
    r"value:[ \t]*[\"']?[^\s\"']{8}",
    # Postman / JSON key-value pairs: {"key": "x-api-key", "value": "…"}
    r"\"(?:key|name)\"[ \t]*:[ \t]*\"[^\"\n]{0,80}"
    + _KW
    + r"[^\"\n]{0,80}\"[^\n]{0,80}\"value\"[ \t]*:[ \t]*\"[^\"\s]{8}",
    # typed constants: CLIENT_SECRET: &str = "…", apiKey string = "…", apiKey: String = "…"
    _KW
    + r"\w{0,80}[ \t]*(?::[ \t]*&?(?:'static[ \t]+)?|[ \t]+)[A-Za-z_][\w.<>\[\]]{0,40}\??[ \t]*=[ \t]*[\"'`][^\"'`\s]{8}",
    # .netrc: machine host login user password VALUE
    r"(?:^|[ \t])(?:password|passwd)[ \t]+[^\s]{8}",
    # JSON-escaped source (notebook cells): TOKEN = \"…\"
    _KW + r"\w{0,80}[ \t]*=[ \t]*\\[\"'][^\"'\s\\]{8}",
    r"aws.{0,20}(?:key|pwd|pw|password|pass|token|secret).{0,20}['\"][0-9a-zA-Z/+]{40}['\"]",
    r"(?:aws_?secret_?access_?key|secretaccesskey|aws_secret)[\"']?[ \t]*[:=][ \t]*[\"']?[0-9a-zA-Z/+]{40}",
)
_ASSIGN = re.compile(
    r"""(?<![\w$@\\])(?P<name>[A-Za-z_$@][\w.\-$]{0,80}+)["'`]?\]?"""
    # an optional type annotation: `: &str`, `: &'static str`, `: String`, ` string` (Go)
    r"""(?:[ \t]*:[ \t]*&?(?:'static[ \t]+)?[A-Za-z_][\w.]{0,40}+(?:<[\w, ]{1,40}>)?\??(?=[ \t]*=[^=>])|[ \t]+(?:string|String|str)(?=[ \t]*=[^=>]))?"""
    r"""[ \t]*(?P<op>:::=|::=|:=|\?=|\+=|\.=|=>|==|!=|=|:)[ \t]*"""
    r"""(?:[rRbBuU]?(?P<q>["'`])(?P<qv>[^"'`\s\\]{8,512})(?P=q)|(?P<uv>[^\s"'`,;#&)(\[\]{}<>\\]{8,512})(?=\s|$|[,;#&"]|\\[nrt]))"""
)
#: JSON-escaped source lines (notebook cells): "TOKEN = \"…\"\n",
_ESCAPED = re.compile(
    r"""(?<![\w.])(?P<name>[A-Za-z_][\w.]{0,80}+)[ \t]*(?::[ \t]*[A-Za-z_]\w{0,40}+[ \t]*)?=[ \t]*\\(?P<q>["'])(?P<v>[^"'\s\\]{8,512})\\(?P=q)"""
)
#: Postman / JSON key-value pairs: {"key": "x-api-key", "value": "…"}
_JSON_KV = re.compile(
    r""""(?:key|name)"\s*:\s*"(?P<name>[^"\\]{1,80})"\s*,(?:\s*"\w+"\s*:\s*(?:"[^"\\]{0,80}"|\w{1,10})\s*,)?"""
    r'\s*"value"\s*:\s*"(?P<v>[^"\s\\]{8,512})"'
)
#: .netrc: machine HOST login USER password VALUE (or a `password VALUE` line in a netrc file)
_NETRC = re.compile(r"(?:^|\s)(?:password|passwd)[ \t]+(?P<v>[^\s]{8,512})(?=\s|$)")
_NETRC_CONTEXT = re.compile(r"(?:^|\s)(?:machine|default)\s+\S*.*?\blogin\s+\S+\s+(?:password|passwd)\s")
_NETRC_FILES = frozenset({".netrc", "_netrc", "netrc", ".authinfo"})
#: Publishable or test-mode keys of a known format: not secrets even under a secret-ish name.
_NOT_SECRET_PREFIXES = ("sk_test_", "pk_test_", "pk_live_", "rk_test_")
#: Names that explicitly hold a password or secret (a letters-only random value counts there).
_STRONG_NAME = re.compile(r"(?i)passw(?:or)?d|passwd|pwd|secret")
_XML = re.compile(r"<(?P<name>[\w.\-:]{1,80})>(?P<v>[^<\s]{8,512})</(?P=name)>")
_BEARER = re.compile(r"(?i)\bbearer[ \t]+(?P<v>[A-Za-z0-9\-._~+/]{16,1024}=*)(?![A-Za-z0-9\-._~+/=])")
_MARKDOWN = re.compile(
    r"`(?P<name>[A-Za-z_][\w.\-]{0,80})`(?:\s*\|\s*|\s+to\s+|\s*[:=]\s*|\s+is\s+|\s+as\s+)`(?P<v>[^`\s]{8,512})`"
)
#: os.getenv("API_KEY", "…"), props.setProperty("smtp.password", "…"), put("token", "…")
_CALL = re.compile(r"""\w\(\s*["'](?P<name>[\w.\-]{1,80})["']\s*,\s*["'](?P<v>[^"'\s]{8,512})["']""")
_FALLBACK = re.compile(
    r"""(?P<name>[\w.$\[\]()'"]{1,120}?)\s*(?:\|\||\?\?)=?\s*["'`](?P<v>[^"'`\s]{8,512})["'`]"""
)
#: <property name="dbPassword" value="…"/>, <add key="client_secret" value="…" />
_XML_ATTR = re.compile(
    r"""\b(?:name|key)\s*=\s*["'](?P<name>[^"'<>]{1,80})["'][^<>]{0,80}?\bvalue\s*=\s*["'](?P<v>[^"'\s]{8,512})["']"""
)
_K8S_VALUE = re.compile(r"""^\s*-?\s*value:\s*(?P<q>["']?)(?P<v>[^\s"']{8,512})(?P=q)\s*$""")
_K8S_NAME = re.compile(r"""^\s*-?\s*name:\s*["']?(?P<name>[\w.\-]{1,80})["']?\s*$""")
_SHELLISH = re.compile(r"^\s*(?:(?:export|ARG|ENV|declare\s+-x|setx?)\s+|\$env:)", re.IGNORECASE)

_SECRET_NAME = re.compile(
    r"(?i)(?:passw(?:or)?d|passwd|pwd|(?<![a-z])pass(?![a-z])|(?-i:[a-z0-9]Pass)(?![a-z])|passphrase|secret|token|"
    r"credential|api[_\-.]?key|(?:auth|access|private|signing|encryption|master|client|app|account|"
    r"storage|shared|session|service|admin|secret|license|webhook|bearer|hmac|jwt)[_\-.]?key)"
)
#: Names that look secret-ish but hold identifiers, pagination cursors or settings.
_NOT_SECRET_NAME = re.compile(
    r"(?i)(?:next_?token|page_?token|input_?token|output_?token|pagination|continuation|marker|client_?token|"
    r"idempotency|tokens?_?(?:count|ids?)|tokeniz|max_?tokens|csrf|xsrf|primary_?key|foreign_?key|sort_?key|"
    r"partition_?key|hash_?key|range_?key|keyboard|monkey|turkey|hotkey|key_?code|keystroke|passenger|"
    r"passthrough|bypass|compass|passive|"
    r"(?:^|[_\-.])(?:public|kms|sha\d*|hash|digest|checksum|etag|integrity|fingerprint|thumbprint|nonce|salt)"
    r"(?:$|[_\-.]|(?-i:(?=[A-Z0-9])))|"
    r"(?-i:[a-z0-9](?:Public|Kms|Sha|Hash|Digest|Checksum|Etag|Fingerprint|Thumbprint|Nonce|Salt)))"
)
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
#: A secret-ish name whose last word is one of these holds metadata, not the secret.
_NON_SECRET_LAST = frozenset(
    "name names id ids arn arns ref refs version versions path paths file files dir directory prefix suffix "
    "url uri endpoint host type types length len size count field label env var vars header format policy "
    "manager store provider source location alias pair usage pattern regex schema template class enabled "
    "required expiry expires expiration ttl timeout mode kind algorithm algo rotation hint min max limit "
    "param option flag spec state status word words map set func fn code attr attribute condition "
    "expression column columns value arg args list lifetime period interval rule rules re rx".split()
)
_DOTTED = re.compile(r"[A-Za-z_$]\w*(?:\.\w+)+")
_CODE_VALUE = re.compile(r"^(?:self|this|cls|os|process|env|config|settings|params|args|request|ctx)\.")
_CONFIG_EXT = frozenset(
    ".env .ini .cfg .conf .config .properties .toml .yaml .yml .sh .bash .zsh .txt .log .tf .tfvars .hcl "
    ".dockerfile .npmrc .pypirc .ps1 .bat .cmd .mk".split()
    + [""]
)


def _ext(path: str) -> str:
    base = path.rsplit("/", 1)[-1].lower()
    if base.startswith((".env", "dockerfile", "containerfile")) or base in (".npmrc", ".pypirc", ".netrc"):
        return ".env"
    dot = base.rfind(".")
    return base[dot:] if dot > 0 else ""


def is_secret_name(name: str) -> bool:
    if not _SECRET_NAME.search(name) or _NOT_SECRET_NAME.search(name):
        return False
    words = _WORDS.findall(name)
    return not words or words[-1].lower() not in _NON_SECRET_LAST


#: Directories of sample configuration: documentation examples and Ansible Molecule test scenarios.
_SAMPLE_DIRS = frozenset({"example", "examples", "molecule"})


def is_example_file(path: str) -> bool:
    """Documentation example files (``examples-1.json``, ``.env.example``, ``examples/…``) and
    Molecule test scenarios (``molecule/default/converge.yml``): their values are illustrations.
    Only the name-based generic detector skips them; token formats still fire."""
    parts = path.lower().split("/")
    return "example" in parts[-1] or any(p in _SAMPLE_DIRS for p in parts[:-1])


def _good(value: str, name: str = "") -> bool:
    if value.startswith(_NOT_SECRET_PREFIXES) or filters.is_false_positive(value):
        return False
    if fails_format_checksum(value):
        return False  # shaped like a GitHub/npm/PyPI token but never issued
    if filters.looks_random(value):
        return True
    return bool(name) and _STRONG_NAME.search(name) is not None and filters.random_letters_value(value)


#: A quoted value that is a call (``get_secret()``, ``getenv(NAME)``), not a literal.
_CALL_VALUE = re.compile(r"^[A-Za-z_][\w.]*\([^()]*\)$")


WINDOW = 4096
OVERLAP = 1024


def find_generic(line: str, text: str, offset: int, path: str = "") -> Iterator[Hit]:
    if is_example_file(path):
        return
    seen: set[int] = set()
    if len(line) <= WINDOW:
        hits: Iterator[Hit] = _find_in(line, path)
    else:  # minified JSON/JS: overlapping windows keep the regexes cheap on megabyte lines
        hits = (
            (base + s, base + e, v, x)
            for base in range(0, len(line), WINDOW - OVERLAP)
            for s, e, v, x in _find_in(line[base : base + WINDOW], path)
        )
    for hit in hits:
        if hit[0] not in seen:
            seen.add(hit[0])
            yield hit
    if "value" in line and offset > 0:
        yield from _find_k8s(line, text, offset)
    if line.rstrip().endswith(">"):
        yield from _find_xml_block(line, text, offset)


def _find_in(line: str, path: str) -> Iterator[Hit]:
    unquoted_ok = _ext(path) in _CONFIG_EXT or bool(_SHELLISH.match(line))
    # literal \n inside a JSON/YAML string separates assignments: read it as whitespace (same offsets)
    scan = line.replace("\\n", "  ") if "\\n" in line else line
    for m in _ASSIGN.finditer(scan):
        before = line[max(0, m.start() - 2) : m.start()]
        # KEY=value inside a JSON/YAML string: "DEBUG=1\nAPI_TOKEN=…\n" or ["API_TOKEN=…"]
        in_string = before == "\\n" or (before[-1:] == '"' and m.group("op") == "=")
        name = m.group("name")
        if m.group("op") in ("==", "!=") or line[max(0, m.start() - 1) : m.start()] == ":":
            continue  # comparisons; qualified type names (AWS::IAM::AccessKey)
        if not is_secret_name(name):
            continue
        quoted = m.group("qv") is not None
        if not quoted and not (unquoted_ok or in_string):
            continue
        group = "qv" if quoted else "uv"
        value = m.group(group)
        if _CODE_VALUE.match(value) or _CALL_VALUE.match(value) or "()" in value:
            continue  # code references: self.x, get_x(), settings.DB_PASSWORD
        if not quoted and ("(" in value or (_DOTTED.fullmatch(value) and filters.is_dotted_name(value))):
            continue
        if _good(value, name):
            yield m.start(group), m.end(group), value, 0
    for rx, needle in (
        (_XML, "<"),
        (_XML_ATTR, "value"),
        (_MARKDOWN, "`"),
        (_CALL, "("),
        (_FALLBACK, "|"),
        (_FALLBACK, "??"),
    ):
        if needle in line:
            for m in rx.finditer(line):
                if is_secret_name(m.group("name")) and _good(m.group("v"), m.group("name")):
                    yield m.start("v"), m.end("v"), m.group("v"), 0
    if '\\"' in line or "\\'" in line:
        for m in _ESCAPED.finditer(line):
            if is_secret_name(m.group("name")) and _good(m.group("v"), m.group("name")):
                yield m.start("v"), m.end("v"), m.group("v"), 0
    if '"value"' in line:
        for m in _JSON_KV.finditer(line):
            if is_secret_name(m.group("name")) and _good(m.group("v"), m.group("name")):
                yield m.start("v"), m.end("v"), m.group("v"), 0
    if "ass" in line and (
        path.rsplit("/", 1)[-1].lower() in _NETRC_FILES or _NETRC_CONTEXT.search(line) is not None
    ):
        for m in _NETRC.finditer(line):
            if _good(m.group("v"), "password"):
                yield m.start("v"), m.end("v"), m.group("v"), 0
    if "earer" in line:
        for m in _BEARER.finditer(line):
            if _good(m.group("v")):
                yield m.start("v"), m.end("v"), m.group("v"), 0
    yield from find_aws_secret(line)


_XML_OPEN = re.compile(r"^\s*<(?P<name>[\w.\-:]{1,80})>\s*$")
_XML_BODY = re.compile(r"^\s*(?P<v>[^<>\s]{8,512})\s*$")


def _find_xml_block(line: str, text: str, offset: int) -> Iterator[Hit]:
    """``<password>`` / ``VALUE`` / ``</password>`` on three lines: reported at the open tag."""
    m = _XML_OPEN.match(line)
    if not m or not is_secret_name(m.group("name")):
        return
    body_start = text.find("\n", offset) + 1
    if body_start <= 0:
        return
    body_end = text.find("\n", body_start)
    body = text[body_start : body_end if body_end >= 0 else len(text)].rstrip("\r")
    close = text[body_end + 1 : body_end + 200].lstrip() if body_end >= 0 else ""
    b = _XML_BODY.match(body)
    if b and close.startswith(f"</{m.group('name')}>") and _good(b.group("v"), m.group("name")):
        yield m.start("name") - 1, m.end("name") + 1, b.group("v"), 1


def _find_k8s(line: str, text: str, offset: int) -> Iterator[Hit]:
    """``- name: DB_PASSWORD`` followed by ``value: …`` (Kubernetes/Compose env lists)."""
    m = _K8S_VALUE.match(line)
    if not m:
        return
    prev_start = text.rfind("\n", 0, offset - 1) + 1
    prev = _K8S_NAME.match(text[prev_start : offset - 1].rstrip("\r"))
    if prev and is_secret_name(prev.group("name")) and _good(m.group("v"), prev.group("name")):
        yield m.start("v"), m.end("v"), m.group("v"), 0


GENERIC = Detector(
    "generic-secret",
    "Generic secret",
    "A high-entropy value assigned to a name like password, secret, token, key or api_key "
    "(including AWS secret access keys).",
    PREFILTER,
    find_generic,
    severity=7.0,
    precision="medium",
    ds_types=("Secret Keyword", "Base64 High Entropy String", "Hex High Entropy String"),
)
