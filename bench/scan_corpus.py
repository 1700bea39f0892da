"""Deterministic generator of a labelled secret-scanning corpus.

Usage::

    python bench/scan_corpus.py --out /tmp/keyturn-corpus [--seed 4] [--scale 1]

writes ``OUT/tree/`` (the directory to scan) and ``OUT/labels.json`` (kept
*outside* the tree so scanners never see it).  Every secret is generated from
the seed with :class:`random.Random`; none of them is real.  ``labels.json``::

    {"seed": 4, "scale": 1,
     "positives": [{"path": "svc/app/settings.py", "line": 12,
                    "kind": "github-token", "value": "ghp_..."}, ...],
     "negatives": [{"path": ..., "line": ..., "end_line": ..., "type": "uuid",
                    "value": ...}, ...],
     "files": n, "bytes": n}

``path`` is relative to ``OUT/tree`` (posix), ``line`` is 1-based.  For
``private-key`` the label is the ``-----BEGIN ... PRIVATE KEY-----`` line.
Negatives are hard negatives (look like secrets, are not); they are recorded
so that false positives can be explained by type.

Only the standard library is used; the same seed and scale always give
byte-identical files and labels.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import shutil
import string
import sys
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path

KINDS = [
    "github-token",
    "gitlab-token",
    "slack-token",
    "slack-webhook",
    "stripe-key",
    "openai-key",
    "anthropic-key",
    "google-api-key",
    "aws-access-key",
    "azure-storage-key",
    "azure-sas",
    "npm-token",
    "pypi-token",
    "private-key",
    "jwt",
    "url-credentials",
    "generic-secret",
]

ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits
B64 = string.ascii_letters + string.digits + "+/"
B64URL = string.ascii_letters + string.digits + "-_"
HEX = "0123456789abcdef"
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase

# Words for filler code/prose.  Deliberately free of secret-ish words
# (key, token, secret, password, auth, credential...) so filler is clean.
WORDS = (
    "account active address agent alert amount archive array asset batch "
    "billing block bucket buffer build bundle cache calendar cart catalog "
    "channel chart check client cluster column comment config consumer "
    "content context counter country cursor customer dashboard data "
    "dataset date debug default delivery device digest domain draft driver "
    "email engine entry event export feature feed field filter flag folder "
    "format frame gateway graph group handler header health history host "
    "image import index input instance invoice item job label layer layout "
    "ledger limit link listener locale location logger manifest mapping "
    "matrix member message metric mode model module monitor node notice "
    "offset order owner package page panel parser partner payload pipeline "
    "plan policy pool port preview price profile project provider queue "
    "quota range rate reader record region release report request resource "
    "response result retry review role route rule runner sample schedule "
    "schema scope search section segment sender series server service "
    "session shard signal size snapshot source stage state status storage "
    "store stream summary supplier table tag target task team template "
    "tenant thread ticket timer topic total trace tracker transfer trigger "
    "upload usage user value vendor version view volume warehouse webhook "
    "widget window worker workflow zone"
).split()
VERBS = (
    "build load fetch parse render update create delete merge sync apply "
    "resolve compute collect validate normalize format publish consume "
    "refresh schedule dispatch register archive export import split"
).split()
PROSE = (
    "the service reads its settings at startup and caches them for the "
    "lifetime of the process so that requests never block on disk io while "
    "the worker pool drains the queue in batches and reports progress to the "
    "dashboard every few seconds when a batch fails it is retried with "
    "exponential backoff up to the configured limit after which the item is "
    "moved to the dead letter queue for manual review by the on call team"
).split()

SECRET_NAMES = {
    "github-token": ["GITHUB_TOKEN", "GH_TOKEN", "github_token", "gh_pat", "GITHUB_PAT"],
    "gitlab-token": ["GITLAB_TOKEN", "GITLAB_PRIVATE_TOKEN", "gitlab_token", "GL_TOKEN"],
    "slack-token": ["SLACK_BOT_TOKEN", "SLACK_TOKEN", "slack_token", "slack_user_token"],
    "slack-webhook": ["SLACK_WEBHOOK_URL", "slack_webhook", "webhook_url", "ALERTS_WEBHOOK"],
    "stripe-key": ["STRIPE_SECRET_KEY", "stripe_api_key", "STRIPE_KEY", "stripe_restricted_key"],
    "openai-key": ["OPENAI_API_KEY", "openai_api_key", "OPENAI_KEY", "llm_api_key"],
    "anthropic-key": ["ANTHROPIC_API_KEY", "anthropic_api_key", "CLAUDE_API_KEY"],
    "google-api-key": ["GOOGLE_API_KEY", "maps_api_key", "GCP_API_KEY", "firebase_api_key"],
    "aws-access-key": ["AWS_ACCESS_KEY_ID", "aws_access_key_id", "access_key", "AWS_ACCESS_KEY"],
    "azure-storage-key": ["AZURE_STORAGE_CONNECTION_STRING", "storage_connection_string", "AzureWebJobsStorage", "BLOB_CONNECTION"],
    "azure-sas": ["BLOB_SAS_URL", "sas_url", "EXPORT_CONTAINER_URL", "backup_blob_url"],
    "npm-token": ["NPM_TOKEN", "npm_token", "NODE_AUTH_TOKEN"],
    "pypi-token": ["PYPI_TOKEN", "TWINE_PASSWORD", "pypi_api_token", "PYPI_API_TOKEN"],
    "jwt": ["ID_TOKEN", "service_jwt", "access_token", "JWT", "bearer_token"],
    "url-credentials": ["DATABASE_URL", "MONGO_URI", "REDIS_URL", "BROKER_URL", "db_url", "SQLALCHEMY_DATABASE_URI"],
    "generic-secret": [
        "DB_PASSWORD", "db_password", "SECRET_KEY", "client_secret", "api_key",
        "apiKey", "auth_token", "password", "app_secret", "session_secret",
        "JWT_SECRET", "ADMIN_PASSWORD", "api_token", "webhook_secret",
        "aws_secret_access_key", "MYSQL_ROOT_PASSWORD", "access_token",
        "encryption_secret", "signing_secret", "smtp_password",
    ],
}


# --------------------------------------------------------------------------
# secret value generators (all random, from the seeded rng)
# --------------------------------------------------------------------------

def _rs(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _base62(n: int, width: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = BASE62[r] + out
    return out.rjust(width, "0")


def _checksummed(rng: random.Random, prefix: str) -> str:
    """GitHub/npm style: 30 random base62 chars + 6-char base62 CRC32."""
    body = _rs(rng, ALNUM, 30)
    return prefix + body + _base62(zlib.crc32(body.encode()), 6)


def _pypi_token(filler: str) -> str:
    """PyPI's token structure: ``pypi-`` + base64url of a V2 macaroon (location pypi.org, a UUID
    identifier, one caveat, a 32-byte signature), derived from ``filler`` (same RNG draws as the
    unstructured values this corpus used before PyPI's structure was checked)."""
    def fld(kind: int, data: bytes) -> bytes:
        n, size = len(data), b""
        while True:
            b, n = n & 0x7F, n >> 7
            size += bytes([b | (0x80 if n else 0)])
            if not n:
                return bytes([kind]) + size + data
    digest = hashlib.sha256(filler.encode()).digest()
    ident = str(uuid.UUID(bytes=digest[:16], version=4)).encode()
    caveat = ('{"version":1,"permissions":{"projects":["' + filler[:40] + '"]}}').encode()
    raw = (b"\x02" + fld(1, b"pypi.org") + fld(2, ident) + b"\x00"
           + fld(2, caveat) + b"\x00" + b"\x00" + fld(6, digest))
    return "pypi-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64url_json(obj: dict) -> str:
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def gen_secret(kind: str, rng: random.Random) -> str:
    if kind == "github-token":
        if rng.random() < 0.25:
            return "github_pat_" + _rs(rng, ALNUM, 22) + "_" + _rs(rng, ALNUM, 59)
        return _checksummed(rng, rng.choice(["ghp_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_"]))
    if kind == "gitlab-token":
        return "glpat-" + _rs(rng, ALNUM + "-_", 20)
    if kind == "slack-token":
        if rng.random() < 0.5:
            return "xoxb-%s-%s-%s" % (_rs(rng, string.digits, rng.choice([10, 11, 12, 13])),
                                      _rs(rng, string.digits, rng.choice([11, 12, 13])),
                                      _rs(rng, ALNUM, 24))
        return "xoxp-%s-%s-%s-%s" % (_rs(rng, string.digits, 11), _rs(rng, string.digits, 12),
                                     _rs(rng, string.digits, 13), _rs(rng, HEX, 32))
    if kind == "slack-webhook":
        return "https://hooks.slack.com/services/T%s/B%s/%s" % (
            _rs(rng, UPPER_ALNUM, rng.choice([8, 10])), _rs(rng, UPPER_ALNUM, rng.choice([8, 10])),
            _rs(rng, ALNUM, 24))
    if kind == "stripe-key":
        return rng.choice(["sk_live_", "sk_live_", "rk_live_"]) + _rs(rng, ALNUM, rng.choice([24, 34, 99]))
    if kind == "openai-key":
        r = rng.random()
        if r < 0.5:
            return "sk-proj-" + _rs(rng, B64URL, 74) + "T3BlbkFJ" + _rs(rng, B64URL, 74)
        if r < 0.75:
            return "sk-" + _rs(rng, ALNUM, 20) + "T3BlbkFJ" + _rs(rng, ALNUM, 20)
        return "sk-svcacct-" + _rs(rng, B64URL, 74) + "T3BlbkFJ" + _rs(rng, B64URL, 74)
    if kind == "anthropic-key":
        return "sk-ant-api03-" + _rs(rng, B64URL, 93) + "AA"
    if kind == "google-api-key":
        return "AIza" + _rs(rng, B64URL, 35)
    if kind == "aws-access-key":
        return rng.choice(["AKIA", "AKIA", "AKIA", "ASIA"]) + _rs(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
    if kind == "azure-storage-key":
        return base64.b64encode(rng.randbytes(64)).decode()  # 88 chars, ends "=="
    if kind == "azure-sas":
        sig = base64.b64encode(rng.randbytes(32)).decode()
        return sig.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    if kind == "npm-token":
        return _checksummed(rng, "npm_")
    if kind == "pypi-token":
        return _pypi_token(_rs(rng, B64URL, rng.choice([150, 162, 179])))
    if kind == "jwt":
        alg = rng.choice(["HS256", "RS256", "ES256"])
        head = _b64url_json({"alg": alg, "typ": "JWT"})
        payload = _b64url_json({
            "sub": str(rng.randrange(10**6, 10**9)),
            "name": rng.choice(WORDS).title() + " " + rng.choice(WORDS).title(),
            "iat": rng.randrange(1_600_000_000, 1_800_000_000),
            "scope": rng.choice(WORDS),
        })
        siglen = {"HS256": 43, "RS256": 342, "ES256": 86}[alg]
        return "%s.%s.%s" % (head, payload, _rs(rng, B64URL, siglen))
    if kind == "generic-secret":
        r = rng.random()
        if r < 0.4:
            return _rs(rng, ALNUM, rng.choice([20, 24, 32, 40]))
        if r < 0.6:
            return _rs(rng, ALNUM + "!@^*-_+=.~", rng.choice([16, 20, 28]))
        if r < 0.8:
            return _rs(rng, HEX, rng.choice([32, 48, 64]))
        return base64.b64encode(rng.randbytes(rng.choice([24, 30, 33]))).decode()
    raise ValueError(kind)


def url_password(rng: random.Random) -> str:
    return _rs(rng, ALNUM + "-_.~", rng.choice([12, 16, 20, 24]))


PEM_PREFIX = {
    "RSA PRIVATE KEY": "MIIEpAIBAAKCAQEA",
    "EC PRIVATE KEY": "MHcCAQEEI",
    "OPENSSH PRIVATE KEY": "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAA",
    "PRIVATE KEY": "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQ",
    "ENCRYPTED PRIVATE KEY": "MIIFHzBJBgkqhkiG9w0BBQ0wPDAbBgkqhkiG9w0BBQwwDgQI",
    "PUBLIC KEY": "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA",
    "CERTIFICATE": "MIIDdzCCAl+gAwIBAgIE",
}
PEM_LEN = {"RSA PRIVATE KEY": 1600, "EC PRIVATE KEY": 160, "OPENSSH PRIVATE KEY": 540,
           "PRIVATE KEY": 1620, "ENCRYPTED PRIVATE KEY": 1700, "PUBLIC KEY": 392,
           "CERTIFICATE": 1100}


def pem_lines(label: str, rng: random.Random) -> list[str]:
    body = PEM_PREFIX[label] + _rs(rng, B64, PEM_LEN[label] - len(PEM_PREFIX[label]))
    width = 70 if label == "OPENSSH PRIVATE KEY" else 64
    lines = ["-----BEGIN %s-----" % label]
    lines += [body[i:i + width] for i in range(0, len(body), width)]
    lines[-1] = lines[-1][:-2] + "==" if len(lines[-1]) > 4 else lines[-1]
    lines.append("-----END %s-----" % label)
    return lines


# --------------------------------------------------------------------------
# file model
# --------------------------------------------------------------------------

@dataclass
class Item:
    """A planted snippet: a positive (kind) or a hard negative (neg)."""

    kind: str | None  # positive kind
    neg: str | None  # negative type
    value: str  # exact text present on the labelled line
    name: str = ""  # variable name
    pem: list[str] | None = None  # PEM lines for private/public keys
    raw: list[str] | None = None  # pre-rendered lines (index 0 = labelled line)


@dataclass
class FileSpec:
    path: str
    ftype: str
    items: list[Item] = field(default_factory=list)


FTYPES = ["py", "js", "yaml", "json", "env", "tf", "docker", "md", "ini", "properties", "toml", "sh",
          "go", "java", "xml", "rb"]
EXT = {"py": ".py", "js": ".js", "yaml": ".yaml", "json": ".json", "env": "", "tf": ".tf",
       "docker": "", "md": ".md", "ini": ".ini", "properties": ".properties", "toml": ".toml",
       "sh": ".sh"}

# which file types a kind may be planted in
KIND_FTYPES = {k: FTYPES for k in KINDS}
KIND_FTYPES["private-key"] = ["py", "js", "yaml", "json", "env", "md", "pem", "tf", "go", "java", "xml", "rb"]

COMMENT = {"py": "#", "yaml": "#", "env": "#", "tf": "#", "docker": "#", "ini": ";",
           "properties": "#", "toml": "#", "sh": "#", "js": "//"}


class Gen:
    def __init__(self, seed: int, scale: int):
        self.rng = random.Random(seed)
        self.scale = scale
        self.files: list[FileSpec] = []
        self.used_paths: set[str] = set()

    # ---------------- names / paths
    def w(self) -> str:
        return self.rng.choice(WORDS)

    def ident(self, parts: int = 2) -> str:
        return "_".join(self.w() for _ in range(parts))

    def camel(self) -> str:
        a, b = self.w(), self.w()
        return a + b.title()

    def new_path(self, ftype: str) -> str:
        rng = self.rng
        while True:
            svc = rng.choice(["billing", "catalog", "gateway", "ledger", "search", "notify",
                              "reports", "storefront", "ingest", "scheduler", "identity", "media"])
            if ftype == "py":
                p = "%s/%s/%s.py" % (svc, rng.choice(["app", "core", "jobs", "api", "tests"]),
                                     rng.choice([self.ident(), "settings", "config", "client", "conftest"]))
            elif ftype == "js":
                p = "%s/web/src/%s.%s" % (svc, self.camel(), rng.choice(["js", "ts", "mjs"]))
            elif ftype == "yaml":
                p = rng.choice([
                    "%s/deploy/k8s/%s.yaml" % (svc, self.w()),
                    "%s/docker-compose.%s.yml" % (svc, self.w()),
                    ".github/workflows/%s-%s.yml" % (svc, self.w()),
                    "%s/config/%s.yaml" % (svc, self.w()),
                    "%s/helm/values-%s.yaml" % (svc, self.w()),
                ])
            elif ftype == "json":
                p = rng.choice(["%s/config/%s.json" % (svc, self.w()),
                                "%s/fixtures/%s.json" % (svc, self.ident()),
                                "%s/web/%s.config.json" % (svc, self.w())])
            elif ftype == "env":
                p = "%s/%s" % (svc, rng.choice([".env", ".env.local", ".env.production",
                                                ".env.%s" % self.w(), "env/%s.env" % self.w()]))
            elif ftype == "tf":
                p = "infra/%s/%s.tf" % (svc, rng.choice(["main", "variables", "providers", self.w()]))
            elif ftype == "docker":
                p = "%s/%s" % (svc, rng.choice(["Dockerfile", "Dockerfile.%s" % self.w(),
                                                "docker/%s/Dockerfile" % self.w()]))
            elif ftype == "md":
                p = rng.choice(["docs/%s/%s.md" % (svc, self.ident()), "%s/README.md" % svc,
                                "%s/CHANGELOG.md" % svc, "docs/runbooks/%s.md" % self.ident()])
            elif ftype == "ini":
                p = "%s/%s" % (svc, rng.choice(["setup.cfg", "settings.ini", "%s.ini" % self.w(),
                                                "alembic.ini", "tox.ini", "config/%s.cfg" % self.w()]))
            elif ftype == "properties":
                p = "%s/src/main/resources/application%s.properties" % (
                    svc, rng.choice(["", "-dev", "-prod", "-" + self.w()]))
            elif ftype == "toml":
                p = "%s/%s.toml" % (svc, rng.choice(["config", "pyproject", "settings", self.w()]))
            elif ftype == "sh":
                p = "%s/scripts/%s.sh" % (svc, self.ident())
            elif ftype == "go":
                p = "%s/internal/%s/%s.go" % (svc, self.w(), self.ident())
            elif ftype == "java":
                p = "%s/src/main/java/com/acme/%s/%s%s.java" % (svc, self.w(), self.w().title(), self.w().title())
            elif ftype == "xml":
                p = rng.choice(["%s/src/main/resources/%s-context.xml" % (svc, self.w()),
                                "%s/Web.%s.config" % (svc, self.w().title()), "%s/conf/%s.xml" % (svc, self.w())])
            elif ftype == "rb":
                p = rng.choice(["%s/lib/%s.rb" % (svc, self.ident()), "%s/config/initializers/%s.rb" % (svc, self.w())])
            elif ftype == "pem":
                p = "%s/certs/%s" % (svc, rng.choice(["server.key", "id_rsa", "id_ed25519", "tls-%s.key" % self.w(),
                                                      "%s.pem" % self.w(), "signing.key"]))
            else:
                raise ValueError(ftype)
            if p not in self.used_paths:
                self.used_paths.add(p)
                return p

    # ---------------- positives
    def positive(self, kind: str) -> Item:
        rng = self.rng
        if kind == "private-key":
            label = rng.choice(["RSA PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY",
                                "OPENSSH PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY"])
            lines = pem_lines(label, rng)
            return Item(kind, None, lines[0], rng.choice(["PRIVATE_KEY", "private_key", "ssh_key",
                                                          "tls_key", "signing_key_pem"]), pem=lines)
        value = self.cred_url() if kind == "url-credentials" else gen_secret(kind, rng)
        name = rng.choice(SECRET_NAMES[kind])
        return Item(kind, None, value, name)

    # ---------------- negatives
    def negative(self, ntype: str, ftype: str) -> Item:
        rng = self.rng
        nm = lambda: rng.choice(SECRET_NAMES["generic-secret"])  # noqa: E731
        if ntype == "aws-doc-example":
            v = rng.choice(["AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                            "AKIAI44QH8DHBEXAMPLE", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"])
            n = "aws_access_key_id" if v.startswith("AKIA") else "aws_secret_access_key"
            return Item(None, ntype, v, n)
        if ntype == "jwt-io-example":
            v = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwia"
                 "WF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
            return Item(None, ntype, v, "example_jwt")
        if ntype == "gha-secret-ref":
            s = rng.choice(["GITHUB_TOKEN", "NPM_TOKEN", "PYPI_API_TOKEN", "AWS_SECRET_ACCESS_KEY", "SLACK_WEBHOOK_URL", "DB_PASSWORD"])
            return Item(None, ntype, "${{ secrets.%s }}" % s, rng.choice(["token", "password", "api_key", s]))
        if ntype == "placeholder":
            v = rng.choice(["<your-token>", "<YOUR_API_KEY>", "your_api_key_here", "changeme", "xxxxxxxx",
                            "XXXXXXXXXXXXXXXXXXXX", "REPLACE_ME", "********", "<password>", "TODO",
                            "insert-your-secret-here", "your-secret-key", "CHANGE_ME_IN_PROD", "..."])
            return Item(None, ntype, v, nm())
        if ntype == "prefixed-placeholder":
            v = rng.choice(["ghp_" + "x" * 36, "sk_live_" + "x" * 24, "xoxb-" + "x" * 40,
                            "AKIA" + "X" * 16, "sk-proj-" + "X" * 48, "glpat-" + "x" * 20,
                            "npm_" + "X" * 36, "AIza" + "X" * 35, "sk-ant-api03-" + "x" * 40,
                            "ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "github_pat_" + "X" * 82])
            pre = {"ghp_": "GITHUB_TOKEN", "sk_l": "STRIPE_SECRET_KEY", "xoxb": "SLACK_BOT_TOKEN",
                   "AKIA": "AWS_ACCESS_KEY_ID", "sk-p": "OPENAI_API_KEY", "glpa": "GITLAB_TOKEN",
                   "npm_": "NPM_TOKEN", "AIza": "GOOGLE_API_KEY", "sk-a": "ANTHROPIC_API_KEY",
                   "gith": "GITHUB_TOKEN"}
            return Item(None, ntype, v, pre[v[:4]])
        if ntype == "dummy-word":
            v = rng.choice(["password", "test", "dummy", "secret", "fake", "example", "foobar",
                            "hunter2", "test-token", "dummy-api-key", "not-a-real-secret",
                            "testpassword", "s3cr3t", "letmein", "admin", "fake_token_for_tests"])
            return Item(None, ntype, v, nm())
        if ntype == "lockfile-integrity":
            v = "sha512-" + base64.b64encode(rng.randbytes(64)).decode()
            return Item(None, ntype, v, "integrity")
        if ntype == "uuid":
            v = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            return Item(None, ntype, v, rng.choice(["tenant_id", "subscription_id", "request_id",
                                                    "client_id", "id", "correlation_id", "project_id"]))
        if ntype == "git-sha":
            v = _rs(rng, HEX, 40)
            return Item(None, ntype, v, rng.choice(["commit", "revision", "sha", "ref", "base_commit"]))
        if ntype == "hex-digest":
            v = _rs(rng, HEX, rng.choice([32, 64, 64, 128]))
            return Item(None, ntype, v, rng.choice(["sha256", "checksum", "digest", "etag",
                                                    "source_code_hash", "md5", "EXPECTED_SHA256"]))
        if ntype == "ssh-public-key":
            algo, pre = rng.choice([("ssh-rsa", "AAAAB3NzaC1yc2EAAAADAQABAAABAQ"),
                                    ("ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAI"),
                                    ("ecdsa-sha2-nistp256", "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBB")])
            body = pre + _rs(rng, B64, 340 if algo == "ssh-rsa" else 43)
            v = "%s %s %s@%s" % (algo, body, self.w(), self.w())
            return Item(None, ntype, v, "ssh_authorized_key")
        if ntype == "pem-public":
            label = rng.choice(["PUBLIC KEY", "CERTIFICATE"])
            lines = pem_lines(label, rng)
            return Item(None, ntype, lines[0], "public_key" if label == "PUBLIC KEY" else "ca_cert", pem=lines)
        if ntype == "data-uri":
            mime = rng.choice(["image/png", "image/gif", "font/woff2", "image/jpeg"])
            head = {"image/png": b"\x89PNG\r\n\x1a\n", "image/gif": b"GIF89a",
                    "font/woff2": b"wOF2", "image/jpeg": b"\xff\xd8\xff\xe0"}[mime]
            v = "data:%s;base64,%s" % (mime, base64.b64encode(head + rng.randbytes(rng.choice([60, 180, 600]))).decode())
            return Item(None, ntype, v, rng.choice(["icon", "logo", "placeholder_image", "font_src"]))
        if ntype == "b64-blob":
            v = base64.b64encode(rng.randbytes(rng.choice([48, 120, 300]))).decode()
            return Item(None, ntype, v, rng.choice(["content", "payload_b64", "thumbnail", "fixture_blob"]))
        if ntype == "env-reference":
            return Item(None, ntype, "", nm())  # rendered per file type
        if ntype == "secret-ish-name":
            return Item(None, ntype, "", nm())
        if ntype == "url-no-password":
            v = rng.choice([
                "postgres://%s@db.internal:5432/%s" % (self.w(), self.w()),
                "postgres://localhost/%s" % self.w(),
                "https://%s:${%s_PASSWORD}@registry.example.com/simple" % (self.w(), self.w().upper()),
                "postgresql://%s:<password>@localhost:5432/%s" % (self.w(), self.w()),
                "mongodb://%s:%%s@%s:27017/" % (self.w(), self.w()),
                "redis://:${REDIS_PASSWORD}@cache:6379/0",
                "amqp://guest:guest@localhost:5672//",
                "postgres://user:password@localhost:5432/mydb",
                "mysql://root:{password}@127.0.0.1/%s" % self.w(),
                "https://user:pass@example.com/path",
                "https://git@github.com/%s/%s.git" % (self.w(), self.w()),
            ])
            return Item(None, ntype, v, rng.choice(["DATABASE_URL", "url", "dsn", "BROKER_URL", "index_url"]))
        if ntype == "publishable-key":
            v = rng.choice(["pk_live_", "pk_test_"]) + _rs(rng, ALNUM, rng.choice([24, 99]))
            return Item(None, ntype, v, rng.choice(["STRIPE_PUBLISHABLE_KEY", "publishableKey"]))
        if ntype == "sourcemap":
            v = "data:application/json;base64," + base64.b64encode(rng.randbytes(900)).decode()
            return Item(None, ntype, v, "sourceMappingURL")
        raise ValueError(ntype)

    # ---------------- rendering of one item for a file type
    def render(self, it: Item, ftype: str) -> tuple[list[str], int]:
        """Return (lines, index of the labelled line within lines)."""
        rng = self.rng
        if it.pem is not None:
            return self.render_pem(it, ftype)
        if it.neg == "env-reference":
            return [self.env_ref(it.name, ftype)], 0
        if it.neg == "secret-ish-name":
            lines = self.secretish(ftype).split("\n")
            return lines, len(lines) - 1
        if it.neg == "ssh-public-key" and ftype in ("md", "sh", "env", "docker"):
            if ftype == "md":
                return ["```", it.value, "```"], 1
            if ftype == "sh":
                return ['echo "%s" >> ~/.ssh/authorized_keys' % it.value], 0
        v, n = it.value, it.name
        kind = it.kind
        # special, realistic placements
        if kind == "npm-token" and ftype in ("ini", "env", "sh", "docker") and rng.random() < 0.5:
            line = "//registry.npmjs.org/:_authToken=%s" % v
            if ftype == "sh":
                line = 'echo "%s" > ~/.npmrc' % line
            if ftype == "docker":
                line = 'RUN echo "%s" > /root/.npmrc && npm ci' % line
            return [line], 0
        if kind == "pypi-token" and ftype == "ini" and rng.random() < 0.6:
            return ["[pypi]", "username = __token__", "password = %s" % v], 2
        if kind == "azure-storage-key":
            acct = self.w() + self.w() + str(rng.randrange(100))
            v = "DefaultEndpointsProtocol=https;AccountName=%s;AccountKey=%s;EndpointSuffix=core.windows.net" % (acct, it.value)
        if kind == "azure-sas":
            acct = self.w() + str(rng.randrange(1000))
            v = ("https://%s.blob.core.windows.net/%s/%s.csv?sv=2022-11-02&ss=b&srt=co&sp=rl"
                 "&se=2026-%02d-%02dT00:00:00Z&st=2025-01-01T00:00:00Z&spr=https&sig=%s"
                 % (acct, self.w(), self.w(), rng.randrange(1, 13), rng.randrange(1, 29), it.value))
        if kind == "jwt" and rng.random() < 0.4 and ftype in ("py", "js", "sh", "md", "yaml"):
            hdr = "Authorization: Bearer %s" % v
            if ftype == "py":
                return ['    headers = {"Authorization": "Bearer %s"}' % v], 0
            if ftype == "js":
                return ["  headers: { Authorization: `Bearer %s` }," % v], 0
            if ftype == "sh":
                return ['curl -fsS -H "%s" https://api.%s.internal/v1/%s' % (hdr, self.w(), self.w())], 0
            if ftype == "md":
                return ["```", 'curl -H "%s" https://api.example.test/' % hdr, "```"], 1
        if kind == "github-token" and ftype == "sh" and rng.random() < 0.5:
            return ['curl -H "Authorization: token %s" https://api.github.com/repos/%s/%s' % (v, self.w(), self.w())], 0
        if kind in ("openai-key", "anthropic-key", "stripe-key") and ftype == "py" and rng.random() < 0.4:
            cls = {"openai-key": "OpenAI", "anthropic-key": "Anthropic", "stripe-key": "StripeClient"}[kind]
            return ['client = %s(api_key="%s")' % (cls, v)], 0
        if kind == "stripe-key" and ftype == "js" and rng.random() < 0.5:
            return ["const stripe = require('stripe')('%s');" % v], 0
        lines = self.assign(n, v, ftype).split("\n")
        return lines, len(lines) - 1  # k8s env entries put the name on the line above

    def cred_url(self) -> str:
        rng = self.rng
        u, p, h = self.w() + rng.choice(["", "_svc", "_app", str(rng.randrange(9))]), url_password(rng), self.w()
        return rng.choice([
            "postgres://%s:%s@%s.db.internal:5432/%s" % (u, p, h, self.w()),
            "postgresql://%s:%s@%s-primary.prod:5432/%s" % (u, p, h, self.w()),
            "mongodb+srv://%s:%s@cluster0.%s.mongodb.net/%s?retryWrites=true" % (u, p, _rs(rng, "abcdefghijklmnopqrstuvwxyz0123456789", 5), self.w()),
            "mysql://%s:%s@%s.rds.internal:3306/%s" % (u, p, h, self.w()),
            "redis://%s:%s@%s-cache:6379/0" % (u, p, h),
            "amqp://%s:%s@%s-mq:5672/%s" % (u, p, h, self.w()),
            "https://%s:%s@%s.artifacts.internal/simple/" % (u, p, h),
            "ftp://%s:%s@%s.files.internal/" % (u, p, h),
        ])

    def assign(self, n: str, v: str, ftype: str) -> str:
        rng = self.rng
        q = rng.choice(['"', "'"])
        if ftype == "py":
            return rng.choice([
                '%s = "%s"' % (n, v),
                "%s%s%s = %s%s%s" % ("", n, "", q, v, q),
                '    "%s": "%s",' % (n, v),
                '    config["%s"] = "%s"' % (n, v),
                'os.environ.setdefault("%s", "%s")' % (n.upper(), v),
            ])
        if ftype == "js":
            return rng.choice([
                'const %s = "%s";' % (n, v),
                "export const %s = '%s';" % (n, v),
                "  %s: '%s'," % (n if n.isidentifier() else "'%s'" % n, v),
                "config.%s = `%s`;" % (n, v),
                'process.env.%s = process.env.%s || "%s";' % (n.upper(), n.upper(), v),
            ])
        if ftype == "yaml":
            return rng.choice([
                "  %s: %s" % (n, v),
                '    %s: "%s"' % (n, v),
                "      - %s=%s" % (n.upper(), v),
                "        - name: %s\n          value: %s%s%s" % (n.upper(), q, v, q),
            ])
        if ftype == "json":
            return '    "%s": "%s",' % (n, v)
        if ftype == "env":
            return rng.choice(["%s=%s" % (n.upper(), v), 'export %s="%s"' % (n.upper(), v),
                               "%s='%s'" % (n.upper(), v)])
        if ftype == "tf":
            return '  %s = "%s"' % (n.lower(), v)
        if ftype == "docker":
            return rng.choice(["ENV %s=%s" % (n.upper(), v), 'ENV %s="%s"' % (n.upper(), v),
                               "ARG %s=%s" % (n.upper(), v)])
        if ftype == "md":
            return rng.choice(["    export %s=%s" % (n.upper(), v),
                               "Set `%s` to `%s` in the deployment settings." % (n, v),
                               "| `%s` | `%s` | prod |" % (n, v)])
        if ftype == "ini":
            return "%s = %s" % (n.lower(), v)
        if ftype == "properties":
            return "app.%s.%s=%s" % (self.w(), n.lower().replace("_", "-"), v)
        if ftype == "toml":
            return '%s = "%s"' % (n.lower(), v)
        if ftype == "sh":
            return rng.choice(['export %s="%s"' % (n.upper(), v), "%s='%s'" % (n.upper(), v)])
        cam = self.to_camel(n)
        if ftype == "go":
            return rng.choice(['const %s = "%s"' % (cam[0].upper() + cam[1:], v), '\t%s := "%s"' % (cam, v),
                               '\t\t%s: "%s",' % (cam[0].upper() + cam[1:], v),
                               '\tos.Setenv("%s", "%s")' % (n.upper(), v)])
        if ftype == "java":
            return rng.choice(['    private static final String %s = "%s";' % (n.upper(), v),
                               '        props.setProperty("%s", "%s");' % (n.lower().replace("_", "."), v),
                               '        String %s = "%s";' % (cam, v)])
        if ftype == "xml":
            return rng.choice(["    <%s>%s</%s>" % (cam, v, cam), '    <add key="%s" value="%s" />' % (n, v),
                               '    <property name="%s" value="%s"/>' % (cam, v)])
        if ftype == "rb":
            return rng.choice(['%s = "%s"' % (n.upper(), v), "  config.%s = '%s'" % (n.lower(), v),
                               'ENV["%s"] ||= "%s"' % (n.upper(), v), '  %s: "%s",' % (n.lower(), v)])
        raise ValueError(ftype)

    @staticmethod
    def to_camel(n: str) -> str:
        parts = [x for x in n.lower().split("_") if x] if "_" in n or n.isupper() else [n]
        return parts[0] + "".join(x.title() for x in parts[1:])

    def env_ref(self, n: str, ftype: str) -> str:
        rng = self.rng
        up = n.upper()
        return {
            "py": rng.choice(['%s = os.environ["%s"]' % (n, up), '%s = os.getenv("%s")' % (n, up),
                              "%s = get_password()" % n, "%s = settings.%s" % (n, up),
                              "    self.%s = %s" % (n, n), '%s = config["%s"]' % (n, n),
                              '%s = vault.read("kv/%s")["data"]' % (n, self.w())]),
            "js": rng.choice(["const %s = process.env.%s;" % (n, up), "const { %s } = config;" % n,
                              "  %s: process.env.%s ?? ''," % (n, up)]),
            "yaml": rng.choice(["  %s: ${%s}" % (n, up), '  %s: "{{ vault_%s }}"' % (n, n.lower()),
                                "        - name: %s\n          valueFrom:" % up if False else "  %s: ${%s:-}" % (n, up)]),
            "json": '    "%s": "${%s}",' % (n, up),
            "env": rng.choice(["%s=" % up, "%s=${%s}" % (up, up + "_FROM_VAULT")]),
            "tf": "  %s = var.%s" % (n.lower(), n.lower()),
            "docker": rng.choice(["ARG %s" % up, "ENV %s=${%s}" % (up, up)]),
            "md": "Read `%s` from the environment (`os.environ[\"%s\"]`)." % (n, up),
            "ini": "%s = %%(%s)s" % (n.lower(), up),
            "properties": "app.%s=${%s}" % (n.lower().replace("_", "-"), up),
            "toml": '%s = "${%s}"' % (n.lower(), up),
            "sh": rng.choice(['export %s="$(vault kv get -field=value kv/%s)"' % (up, self.w()),
                              '%s="${%s:?missing}"' % (up, up)]),
            "go": '\t%s := os.Getenv("%s")' % (self.to_camel(n), up),
            "java": '        String %s = System.getenv("%s");' % (self.to_camel(n), up),
            "xml": "    <%s>${%s}</%s>" % (self.to_camel(n), up, self.to_camel(n)),
            "rb": '%s = ENV.fetch("%s")' % (n.lower(), up),
        }[ftype]

    def secretish(self, ftype: str) -> str:
        rng = self.rng
        n, v = rng.choice([
            ("TOKEN_URL", "https://oauth2.googleapis.com/token"),
            ("password_reset_path", "/accounts/password/reset/"),
            ("secret_name", "projects/acme/secrets/%s-db-password" % self.w()),
            ("token_type", "bearer"),
            ("password_field", "password"),
            ("api_key_header", "X-Api-Key"),
            ("SECRET_MANAGER_PREFIX", "prod/%s/" % self.w()),
            ("auth_scheme", "Basic"),
            ("token_endpoint", "https://login.microsoftonline.com/common/oauth2/v2.0/token"),
            ("password_hasher", "argon2"),
            ("secret_ref", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:%s" % self.w()),
        ])
        return self.assign(n, v, ftype)

    def render_pem(self, it: Item, ftype: str) -> tuple[list[str], int]:
        pem, n = it.pem, it.name
        assert pem is not None
        if ftype == "pem":
            return list(pem), 0
        if ftype == "py":
            return ['%s = """%s' % (n.upper(), pem[0])] + pem[1:] + ['"""'], 0
        if ftype == "js":
            return ["const %s = `%s" % (n, pem[0])] + pem[1:] + ["`;"], 0
        if ftype == "yaml":
            return ["  %s: |" % n] + ["    " + x for x in pem], 1
        if ftype == "json":
            return ['    "%s": "%s",' % (n, "\\n".join(pem) + "\\n")], 0
        if ftype == "env":
            return ['%s="%s' % (n.upper(), pem[0])] + pem[1:-1] + [pem[-1] + '"'], 0
        if ftype == "tf":
            return ["  %s = <<-EOT" % n.lower()] + ["    " + x for x in pem] + ["  EOT"], 1
        if ftype == "md":
            return ["```"] + pem + ["```"], 1
        if ftype == "sh":
            return ["cat > /tmp/%s.pem <<'EOF'" % self.w()] + pem + ["EOF"], 1
        if ftype == "go":
            return ["var %s = `%s" % (self.to_camel(n), pem[0])] + pem[1:] + ["`"], 0
        if ftype == "java":
            return ['    static final String %s = """' % n.upper()] + ["        " + x for x in pem] + ['        """;'], 1
        if ftype == "xml":
            return ["    <%s>%s" % (self.to_camel(n), pem[0])] + pem[1:-1] + ["%s</%s>" % (pem[-1], self.to_camel(n))], 0
        if ftype == "rb":
            return ["%s = <<~PEM" % n.upper()] + ["  " + x for x in pem] + ["PEM"], 1
        if ftype in ("ini", "properties", "toml", "docker"):
            return ["%s %s" % (COMMENT[ftype], x) for x in pem], 0
        raise ValueError(ftype)

    # ---------------- filler
    def filler(self, ftype: str, n: int) -> list[str]:
        rng = self.rng
        out: list[str] = []
        while len(out) < n:
            if ftype == "py":
                fn = "%s_%s" % (rng.choice(VERBS), self.w())
                a, b = self.w(), self.w()
                out += [
                    "",
                    "",
                    "def %s(%s, %s=None, *, limit=%d):" % (fn, a, b, rng.choice([10, 50, 100, 500])),
                    '    """%s."""' % " ".join(rng.choice(PROSE) for _ in range(rng.randrange(5, 12))).capitalize(),
                    "    result = %s_%s.get(%s)" % (self.w(), self.w(), a),
                    "    if result is None:",
                    '        logger.debug("%s %s missing for %%s", %s)' % (self.w(), self.w(), a),
                    "        return %s" % rng.choice(["None", "[]", "{}", "0", b]),
                    "    total = 0",
                    "    for item in result.%ss[:limit]:" % self.w(),
                    "        total += item.%s * %d" % (self.w(), rng.randrange(1, 100)),
                    "        if item.%s == %r:" % (self.w(), self.w()),
                    "            break",
                    "    return {%r: total, %r: %s}" % (self.w(), self.w(), b),
                ]
            elif ftype == "js":
                fn = rng.choice(VERBS) + self.w().title()
                out += [
                    "",
                    "export async function %s(%s, options = {}) {" % (fn, self.w()),
                    "  const { %s = %d, %s = '%s' } = options;" % (self.w(), rng.randrange(100), self.camel(), self.w()),
                    "  const res = await fetch(`/api/v1/%s/${%s}`);" % (self.w(), "id"),
                    "  if (!res.ok) {",
                    "    throw new Error('%s %s failed: ' + res.status);" % (self.w(), self.w()),
                    "  }",
                    "  const body = await res.json();",
                    "  return body.%ss.filter((x) => x.%s > %d).map((x) => x.%s);" % (self.w(), self.w(), rng.randrange(50), self.w()),
                    "}",
                ]
            elif ftype == "yaml":
                out += ["%s:" % self.w()] + [
                    "  %s: %s" % (self.w(), rng.choice([str(rng.randrange(1000)), "true", "false", self.w(), '"%s-%s"' % (self.w(), self.w())]))
                    for _ in range(rng.randrange(3, 9))
                ]
            elif ftype == "json":
                out += ['    "%s_%d": %s,' % (self.w(), rng.randrange(10**4), rng.choice([str(rng.randrange(10**5)), "true", "null", '"%s %s"' % (self.w(), self.w())]))
                        for _ in range(6)]
            elif ftype == "env":
                out += ["%s_%s=%s" % (self.w().upper(), self.w().upper(), rng.choice([str(rng.randrange(10000)), self.w(), "true", "http://%s:%d" % (self.w(), rng.randrange(1024, 9999))]))
                        for _ in range(4)] + ["# %s" % " ".join(rng.choice(PROSE) for _ in range(8))]
            elif ftype == "tf":
                out += [
                    "",
                    'resource "aws_%s" "%s" {' % (rng.choice(["s3_bucket", "sqs_queue", "iam_role", "lambda_function", "db_instance"]), self.w()),
                    '  name    = "%s-%s"' % (self.w(), self.w()),
                    "  count   = %d" % rng.randrange(1, 5),
                    "  tags = {",
                    '    Team = "%s"' % self.w(),
                    '    Env  = "%s"' % rng.choice(["prod", "staging", "dev"]),
                    "  }",
                    "}",
                ]
            elif ftype == "docker":
                out += [rng.choice([
                    "RUN apt-get update && apt-get install -y --no-install-recommends %s %s && rm -rf /var/lib/apt/lists/*" % (self.w(), self.w()),
                    "COPY %s/ /srv/%s/" % (self.w(), self.w()),
                    "WORKDIR /srv/%s" % self.w(),
                    "ENV %s_%s=%d" % (self.w().upper(), self.w().upper(), rng.randrange(1000)),
                    "RUN pip install --no-cache-dir -r requirements/%s.txt" % self.w(),
                    "EXPOSE %d" % rng.randrange(1024, 9999),
                ]) for _ in range(5)]
            elif ftype == "md":
                out += ["", "## %s %s" % (self.w().title(), self.w()), "",
                        " ".join(rng.choice(PROSE) for _ in range(rng.randrange(20, 60))).capitalize() + ".",
                        "", "- `%s` — %s" % (self.ident(), " ".join(rng.choice(PROSE) for _ in range(8)))]
            elif ftype in ("ini", "toml"):
                out += ["", "[%s]" % self.w()] + [
                    ("%s = %s" if ftype == "ini" else '%s = "%s"') % (self.ident(), self.w()) for _ in range(rng.randrange(2, 6))]
            elif ftype == "properties":
                out += ["%s.%s.%s=%s" % (self.w(), self.w(), self.w(), rng.choice([self.w(), str(rng.randrange(1000))])) for _ in range(5)]
            elif ftype == "sh":
                out += [rng.choice([
                    'echo "%s %s"' % (self.w(), self.w()),
                    'if [ -f "%s.%s" ]; then' % (self.w(), rng.choice(["txt", "lock"])),
                    "  rm -f /tmp/%s" % self.w(),
                    "fi",
                    "%s --%s=%d" % (self.w(), self.w(), rng.randrange(100)),
                ]) for _ in range(5)]
            elif ftype == "go":
                fn = rng.choice(VERBS).title() + self.w().title()
                out += ["", "func %s(ctx context.Context, %s string) (int, error) {" % (fn, self.w()),
                        "\titems, err := store.List%s(ctx, %d)" % (self.w().title(), rng.randrange(10, 500)),
                        "\tif err != nil {", '\t\treturn 0, fmt.Errorf("%s %s: %%w", err)' % (self.w(), self.w()), "\t}",
                        "\ttotal := 0", "\tfor _, it := range items {", "\t\ttotal += it.%s" % self.w().title(), "\t}",
                        "\treturn total, nil", "}"]
            elif ftype == "java":
                out += ["", "    public int %s%s(List<%s> items) {" % (rng.choice(VERBS), self.w().title(), self.w().title()),
                        "        int total = 0;", "        for (var it : items) {",
                        "            if (it.get%s() > %d) {" % (self.w().title(), rng.randrange(100)),
                        "                total += it.get%s();" % self.w().title(), "            }", "        }",
                        '        log.debug("%s {} done", total);' % self.w(), "        return total;", "    }"]
            elif ftype == "xml":
                out += ["    <%s %s=\"%s\" %s=\"%d\"/>" % (self.w(), self.w(), self.w(), self.w(), rng.randrange(1000))
                        for _ in range(4)] + ["    <!-- %s -->" % " ".join(rng.choice(PROSE) for _ in range(8))]
            elif ftype == "rb":
                out += ["", "  def %s_%s(%s)" % (rng.choice(VERBS), self.w(), self.w()),
                        "    %ss.select { |x| x.%s > %d }.map(&:%s)" % (self.w(), self.w(), rng.randrange(100), self.w()),
                        "  end"]
            elif ftype == "pem":
                break
            else:
                raise ValueError(ftype)
        return out

    # ---------------- assembly
    def build(self) -> None:
        rng = self.rng
        n_files = 420 * self.scale
        types_weighted = (["py"] * 8 + ["js"] * 5 + ["yaml"] * 7 + ["json"] * 4 + ["env"] * 4 + ["tf"] * 3
                          + ["docker"] * 2 + ["md"] * 5 + ["ini"] * 2 + ["properties"] * 2 + ["toml"] * 2 + ["sh"] * 3
                          + ["go"] * 3 + ["java"] * 3 + ["xml"] * 2 + ["rb"] * 2)
        for _ in range(n_files):
            ft = rng.choice(types_weighted)
            self.files.append(FileSpec(self.new_path(ft), ft))
        for _ in range(12 * self.scale):
            self.files.append(FileSpec(self.new_path("pem"), "pem"))
        by_type: dict[str, list[FileSpec]] = {}
        for f in self.files:
            by_type.setdefault(f.ftype, []).append(f)

        per_kind = 60 * self.scale
        for kind in KINDS:
            for _ in range(per_kind):
                ft = rng.choice(KIND_FTYPES[kind])
                f = rng.choice(by_type[ft])
                if ft == "pem" and f.items:
                    f = FileSpec(self.new_path("pem"), "pem")
                    self.files.append(f)
                f.items.append(self.positive(kind))

        neg_types = {
            "aws-doc-example": (80, ["md", "py", "ini", "env", "yaml", "sh"]),
            "jwt-io-example": (20, ["md", "js", "py"]),
            "gha-secret-ref": (100, ["yaml"]),
            "placeholder": (140, FTYPES),
            "prefixed-placeholder": (80, ["md", "env", "py", "yaml", "js"]),
            "dummy-word": (120, ["py", "js", "yaml", "json", "env", "ini", "toml", "go", "java", "rb"]),
            "uuid": (100, FTYPES),
            "git-sha": (80, ["yaml", "md", "json", "py", "toml"]),
            "hex-digest": (100, FTYPES),
            "ssh-public-key": (60, ["md", "sh", "yaml", "tf", "json", "py"]),
            "pem-public": (50, ["py", "yaml", "md", "json", "tf", "js"]),
            "data-uri": (60, ["js", "md", "json", "py"]),
            "b64-blob": (60, ["json", "py", "yaml"]),
            "env-reference": (160, FTYPES),
            "secret-ish-name": (100, FTYPES),
            "url-no-password": (80, ["py", "yaml", "env", "ini", "md", "js", "toml", "properties"]),
            "publishable-key": (40, ["js", "env", "md", "json"]),
        }
        for ntype, (count, fts) in neg_types.items():
            for _ in range(count * self.scale):
                ft = rng.choice(fts)
                f = rng.choice(by_type[ft])
                f.items.append(self.negative(ntype, ft))

        # lock files: real-looking, full of integrity hashes (hard negatives)
        n_lock = 0
        while n_lock < 4 * self.scale:
            lp = self.new_path("js").rsplit("/", 2)[0] + "/package-lock.json"
            if lp in self.used_paths:
                continue
            self.used_paths.add(lp)
            self.files.append(FileSpec(lp, "lock"))
            n_lock += 1
        # a minified bundle with an inline source map
        for _ in range(2 * self.scale):
            self.files.append(FileSpec("%s/web/dist/vendor.%s.min.js" % (self.w(), _rs(rng, HEX, 8)), "minjs"))

    def write(self, tree: Path) -> dict:
        positives, negatives = [], []
        total = 0
        for f in self.files:
            if f.ftype == "lock":
                lines, negs = self.lockfile()
                plist = []
            elif f.ftype == "minjs":
                lines, negs = self.minjs()
                plist = []
            else:
                lines, plist, negs = self.assemble(f)
            text = "\n".join(lines) + "\n"
            p = tree / f.path
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text, encoding="utf-8", newline="\n")
            total += len(text.encode())
            for line, it in plist:
                positives.append({"path": f.path, "line": line, "kind": it.kind, "value": it.value})
            for line, end, ntype, value in negs:
                negatives.append({"path": f.path, "line": line, "end_line": end, "type": ntype, "value": value})
        positives.sort(key=lambda d: (d["path"], d["line"]))
        negatives.sort(key=lambda d: (d["path"], d["line"]))
        return {"positives": positives, "negatives": negatives,
                "files": len(self.files), "bytes": total}

    def header(self, ftype: str, path: str) -> list[str]:
        rng = self.rng
        if ftype == "py":
            return ['"""%s."""' % " ".join(rng.choice(PROSE) for _ in range(6)).capitalize(), "",
                    "import logging", "import os", "", "logger = logging.getLogger(__name__)", ""]
        if ftype == "js":
            return ["'use strict';", "", "import { %s } from './%s';" % (self.camel(), self.w()), ""]
        if ftype == "yaml" and path.startswith(".github/workflows/"):
            return ["name: %s" % self.w(), "on:", "  push:", "    branches: [main]", "jobs:", "  build:",
                    "    runs-on: ubuntu-latest", "    steps:",
                    "      - uses: actions/checkout@%s  # v4" % _rs(rng, HEX, 40)]
        if ftype == "docker":
            return ["FROM python:3.%d-slim AS base" % rng.choice([10, 11, 12])]
        if ftype == "md":
            return ["# %s %s" % (self.w().title(), self.w()), ""]
        if ftype == "sh":
            return ["#!/usr/bin/env bash", "set -euo pipefail", ""]
        if ftype == "tf":
            return ['terraform {', '  required_version = ">= 1.5"', "}"]
        if ftype == "go":
            return ["package %s" % self.w(), "", "import (", '\t"context"', '\t"fmt"', '\t"os"', ")", ""]
        if ftype == "java":
            return ["package com.acme.%s;" % self.w(), "", "import java.util.List;", "",
                    "public class %s%s {" % (self.w().title(), self.w().title())]
        if ftype == "xml":
            return ['<?xml version="1.0" encoding="utf-8"?>', "<configuration>"]
        if ftype == "rb":
            return ["# frozen_string_literal: true", "", "module %s" % self.w().title()]
        return []

    def assemble(self, f: FileSpec):
        rng = self.rng
        lines: list[str] = []
        if f.ftype == "pem":
            it = f.items[0] if f.items else self.positive("private-key")
            if not f.items:
                f.items.append(it)
            r, idx = self.render(it, "pem")
            return r, [(1 + idx, it)], []
        json_mode = f.ftype == "json"
        if json_mode:
            lines.append("{")
            lines.append('  "%s": {' % self.w())
        else:
            lines += self.header(f.ftype, f.path)
        plist, negs = [], []
        blocks = max(2, len(f.items) + rng.randrange(1, 4))
        slots = sorted(rng.sample(range(blocks), len(f.items))) if f.items else []
        it_iter = iter(f.items)
        target = rng.randrange(40, 400)
        for b in range(blocks):
            lines += self.filler(f.ftype, max(1, target // blocks))
            while slots and slots[0] == b:
                slots.pop(0)
                it = next(it_iter)
                r, idx = self.render(it, f.ftype)
                r = "\n".join(r).split("\n")
                start = len(lines) + 1
                lines += r
                if it.kind:
                    plist.append((start + idx, it))
                else:
                    negs.append((start + idx, start + len(r) - 1, it.neg, it.value))
        if json_mode:
            lines.append('    "%s": %d' % (self.w(), rng.randrange(100)))
            lines.append("  }")
            lines.append("}")
        return lines, plist, negs

    def lockfile(self):
        rng = self.rng
        lines = ["{", '  "name": "%s",' % self.w(), '  "lockfileVersion": 3,', '  "packages": {']
        negs = []
        n = rng.randrange(150, 300)
        for i in range(n):
            name = "%s-%s" % (self.w(), self.w())
            ver = "%d.%d.%d" % (rng.randrange(10), rng.randrange(30), rng.randrange(20))
            integ = "sha512-" + base64.b64encode(rng.randbytes(64)).decode()
            lines += ['    "node_modules/%s": {' % name,
                      '      "version": "%s",' % ver,
                      '      "resolved": "https://registry.npmjs.org/%s/-/%s-%s.tgz",' % (name, name, ver)]
            negs.append((len(lines) + 1, len(lines) + 1, "lockfile-integrity", integ))
            lines += ['      "integrity": "%s",' % integ,
                      '      "license": "MIT"',
                      "    }" + ("," if i < n - 1 else "")]
        lines += ["  }", "}"]
        return lines, negs

    def minjs(self):
        rng = self.rng
        lines = []
        for _ in range(30):
            parts = []
            for _ in range(120):
                parts.append("function %s(%s,%s){return %s.%s(%s)||%d}" % (
                    _rs(rng, string.ascii_letters, 2), rng.choice("abcde"), rng.choice("xyz"),
                    rng.choice("abcde"), self.w(), rng.choice("xyz"), rng.randrange(100)))
            lines.append(";".join(parts) + ";")
        sm = "data:application/json;base64," + base64.b64encode(rng.randbytes(3000)).decode()
        lines.append("//# sourceMappingURL=%s" % sm)
        return lines, [(len(lines), len(lines), "sourcemap", sm)]


def generate(out: Path, seed: int = 4, scale: int = 1) -> dict:
    """Generate the corpus into ``out/tree`` and ``out/labels.json``; return the labels."""
    out = Path(out)
    tree = out / "tree"
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    g = Gen(seed, scale)
    g.build()
    data = g.write(tree)
    labels = {"seed": seed, "scale": scale, **data}
    (out / "labels.json").write_text(json.dumps(labels, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return labels


def tree_digest(tree: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(Path(tree).rglob("*")):
        if p.is_file():
            h.update(p.relative_to(tree).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--scale", type=int, default=1)
    a = ap.parse_args(argv)
    labels = generate(a.out, a.seed, a.scale)
    from collections import Counter
    kinds = Counter(p["kind"] for p in labels["positives"])
    negs = Counter(n["type"] for n in labels["negatives"])
    print("wrote %s: %d files, %.2f MB, %d positives, %d negatives"
          % (a.out / "tree", labels["files"], labels["bytes"] / 1e6, len(labels["positives"]), len(labels["negatives"])))
    for k in KINDS:
        print("  %-20s %d" % (k, kinds[k]))
    for k, v in sorted(negs.items()):
        print("  neg %-22s %d" % (k, v))
    print("tree sha256 %s" % tree_digest(a.out / "tree"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
