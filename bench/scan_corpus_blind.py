"""Independently written ("blind") labelled corpus for the secret scanner.

Written without looking at keyturn's scanner code, its tests or the existing
``bench/scan_corpus.py``: the templates below model how secrets leak in real
repositories (CI workflows, compose files, Helm values, Kubernetes manifests,
Terraform variables, notebooks, shell history, dotfiles, source constants in
several languages, logs, connection strings, CSV, Markdown, HTML/JS, Postman
collections) next to look-alikes that must not be reported.

Every value comes from ``random.Random(seed)``: none of them is a real credential.

Output (``OUT`` given on the command line)::

    OUT/tree/...          the files to scan
    OUT/labels.json       [{"path", "line", "kind", "value", ["end_line"]}]  (positives)
    OUT/negatives.json    [{"path", "line", "category"}]  (planted hard negatives)

``line`` is 1-based; for a multi-line PEM key it is the BEGIN line and ``end_line``
the END line.  ``value`` is a substring of that line (the planted secret, or the
BEGIN marker for PEM blocks).

Usage::

    python bench/scan_corpus_blind.py OUT [--seed 101] [--scale 3]
"""

# ruff: noqa: E702  (one planted value per line: "v = ...; f.pos(...)" keeps templates readable)
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import shutil
import string
import uuid
import zlib
from pathlib import Path

KINDS = (
    "github-token", "gitlab-token", "slack-token", "slack-webhook", "stripe-key",
    "openai-key", "anthropic-key", "google-api-key", "aws-access-key",
    "azure-storage-key", "azure-sas", "npm-token", "pypi-token", "private-key",
    "jwt", "url-credentials", "generic-secret",
)

B62 = string.ascii_letters + string.digits
B64 = B62 + "+/"
B64URL = B62 + "-_"
HEX = "0123456789abcdef"
B32 = string.ascii_uppercase + "234567"


def _crc62(text: str) -> str:
    """base62 (0-9A-Za-z) of CRC32(text), zero-padded to 6: the GitHub/npm token checksum."""
    n, out = zlib.crc32(text.encode()), ""
    while n:
        n, d = divmod(n, 62)
        out = (string.digits + string.ascii_uppercase + string.ascii_lowercase)[d] + out
    return out.rjust(6, "0")


def _checksummed(prefix: str, body36: str) -> str:
    """``prefix`` + 30 random characters + their CRC32 checksum (a real token's shape and checksum)."""
    return prefix + body36[:30] + _crc62(body36[:30])


def _uvarint(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _pypi_token(filler: str) -> str:
    """A PyPI token's structure: pypi- + base64url of a V2 macaroon (location pypi.org, a UUID
    identifier, one caveat, a 32-byte signature), all derived from ``filler``."""
    def field(kind: int, data: bytes) -> bytes:
        return bytes([kind]) + _uvarint(len(data)) + data
    digest = hashlib.sha256(filler.encode()).digest()
    ident = str(uuid.UUID(bytes=digest[:16], version=4)).encode()
    caveat = ('{"version":1,"permissions":{"projects":["' + filler + '"]}}').encode()
    raw = (b"\x02" + field(1, b"pypi.org") + field(2, ident) + b"\x00"
           + field(2, caveat) + b"\x00" + b"\x00" + field(6, digest))
    return "pypi-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def rs(rng: random.Random, n: int, alpha: str = B62) -> str:
    return "".join(rng.choice(alpha) for _ in range(n))


# --------------------------------------------------------------------------- secrets
class Secrets:
    def __init__(self, rng: random.Random):
        self.r = rng

    def github(self) -> str:
        r = self.r
        if r.random() < 0.25:
            return "github_pat_" + rs(r, 22) + "_" + rs(r, 59)
        return _checksummed(r.choice(["ghp_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_"]), rs(r, 36))

    def gitlab(self) -> str:
        return "glpat-" + rs(self.r, 20, B62 + "-_")

    def slack_token(self) -> str:
        r = self.r
        d = lambda: str(r.randint(10**9, 10**13 - 1))  # noqa: E731
        if r.random() < 0.6:
            return f"xoxb-{d()}-{d()}-{rs(r, 24)}"
        if r.random() < 0.5:
            return f"xoxp-{d()}-{d()}-{d()}-{rs(r, 32, HEX)}"
        return f"xoxp-{d()}-{d()}-{rs(r, 24)}"

    def slack_webhook(self) -> str:
        r = self.r
        up = string.ascii_uppercase + string.digits
        return (f"https://hooks.slack.com/services/T{rs(r, r.randint(8, 10), up)}"
                f"/B{rs(r, r.randint(8, 10), up)}/{rs(r, 24)}")

    def stripe(self) -> str:
        r = self.r
        return r.choice(["sk_live_", "sk_live_", "rk_live_"]) + rs(r, r.choice([24, 34, 99]))

    def openai(self) -> str:
        r = self.r
        x = r.random()
        if x < 0.4:
            return "sk-" + rs(r, 20) + "T3BlbkFJ" + rs(r, 20)
        if x < 0.7:
            return "sk-proj-" + rs(r, 74, B64URL) + "T3BlbkFJ" + rs(r, 74, B64URL)
        return "sk-proj-" + rs(r, 156, B64URL)

    def anthropic(self) -> str:
        return "sk-ant-api03-" + rs(self.r, 93, B64URL) + "AA"

    def google(self) -> str:
        return "AIza" + rs(self.r, 35, B64URL)

    def aws_id(self) -> str:
        return self.r.choice(["AKIA", "AKIA", "ASIA"]) + rs(self.r, 16, B32)

    def aws_secret(self) -> str:
        return rs(self.r, 40, B64)

    def azure_conn(self) -> str:
        r = self.r
        acct = rs(r, r.randint(6, 14), string.ascii_lowercase + string.digits)
        key = rs(r, 86, B64) + "=="
        return (f"DefaultEndpointsProtocol=https;AccountName={acct};AccountKey={key};"
                "EndpointSuffix=core.windows.net")

    def azure_sas(self) -> str:
        r = self.r
        sig = base64.b64encode(bytes(r.getrandbits(8) for _ in range(32))).decode()
        sig = sig.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
        day = r.randint(1, 28)
        return (f"sv=2022-11-02&ss=b&srt=sco&sp=rwdlac&se=2027-0{r.randint(1, 9)}-{day:02d}T"
                f"0{r.randint(0, 9)}:00:00Z&st=2026-01-{day:02d}T00:00:00Z&spr=https&sig={sig}")

    def npm(self) -> str:
        return _checksummed("npm_", rs(self.r, 36))

    def pypi(self) -> str:
        return _pypi_token(rs(self.r, self.r.randint(60, 160), B64URL))

    def jwt(self) -> str:
        r = self.r
        if r.random() < 0.6:
            head = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
            siglen = 43
        else:
            head = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"
            siglen = 342
        payload = {"sub": str(r.randint(10**5, 10**9)), "name": r.choice(
            ["alice", "svc-deploy", "bob.m", "ci-runner"]), "iat": r.randint(1_600_000_000, 1_800_000_000)}
        if r.random() < 0.5:
            payload["exp"] = payload["iat"] + 3600 * r.randint(1, 9000)
            payload["scope"] = r.choice(["read write", "admin", "repo:deploy"])
        p = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
        return head + "." + p.decode().rstrip("=") + "." + rs(r, siglen, B64URL)

    def password(self) -> str:
        r = self.r
        return rs(r, r.randint(16, 28), B62 + "-_.~")

    def url_cred(self) -> str:
        r = self.r
        user = r.choice(["app", "svc_orders", "admin", "deploy", "etl", "reporting", "api"])
        pw = rs(r, r.randint(16, 26), B62 + "-_.~")
        scheme, host = r.choice([
            ("postgres", "db.internal:5432/orders"), ("postgresql", "pg-primary.prod:5432/app"),
            ("mysql", "mysql.svc.cluster.local:3306/shop"),
            ("mongodb+srv", "cluster0.ab1cd.mongodb.net/prod?retryWrites=true"),
            ("redis", "cache.prod.internal:6379/0"), ("amqp", "rabbit.internal:5672/vhost"),
            ("https", "artifacts.example-corp.io/repository/pypi/simple"),
            ("rediss", "redis-12345.c1.us-east-1.ec2.cloud.redislabs.com:12345"),
        ])
        return f"{scheme}://{user}:{pw}@{host}"

    def generic(self) -> str:
        r = self.r
        x = r.random()
        if x < 0.45:
            return rs(r, r.randint(18, 40))
        if x < 0.6:
            return rs(r, r.choice([32, 40, 64]), HEX)
        if x < 0.8:
            return rs(r, r.randint(20, 44), B64URL)
        return rs(r, 40, B64)

    def pem(self) -> tuple[str, list[str], str]:
        r = self.r
        typ = r.choice(["RSA PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "PRIVATE KEY"])
        n = {"RSA PRIVATE KEY": 25, "EC PRIVATE KEY": 3, "OPENSSH PRIVATE KEY": 7,
             "PRIVATE KEY": 26}[typ]
        start = {"RSA PRIVATE KEY": "MIIEowIBAAKCAQEA", "EC PRIVATE KEY": "MHcCAQEEI",
                 "OPENSSH PRIVATE KEY": "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
                 "PRIVATE KEY": "MIIEvgIBADANBgkqhkiG9w0BAQEFAASC"}[typ]
        width = 70 if typ == "OPENSSH PRIVATE KEY" else 64
        body = start + rs(r, width * n - len(start) - r.randint(5, 40), B64)
        lines = [body[i:i + width] for i in range(0, len(body), width)]
        lines[-1] += "=" * ((4 - len(lines[-1]) % 4) % 4)
        return f"-----BEGIN {typ}-----", lines, f"-----END {typ}-----"

    def for_kind(self, kind: str) -> str:
        return {
            "github-token": self.github, "gitlab-token": self.gitlab,
            "slack-token": self.slack_token, "slack-webhook": self.slack_webhook,
            "stripe-key": self.stripe, "openai-key": self.openai,
            "anthropic-key": self.anthropic, "google-api-key": self.google,
            "aws-access-key": self.aws_id, "azure-storage-key": self.azure_conn,
            "azure-sas": self.azure_sas, "npm-token": self.npm, "pypi-token": self.pypi,
            "jwt": self.jwt, "url-credentials": self.url_cred, "generic-secret": self.generic,
        }[kind]()


# ------------------------------------------------------------------ hard negatives
class Negs:
    def __init__(self, rng: random.Random):
        self.r = rng

    def sha256(self) -> str:
        return hashlib.sha256(str(self.r.random()).encode()).hexdigest()

    def gitsha(self) -> str:
        return hashlib.sha1(str(self.r.random()).encode()).hexdigest()

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.r.getrandbits(128), version=4))

    def integrity(self) -> str:
        return "sha512-" + base64.b64encode(hashlib.sha512(str(self.r.random()).encode()).digest()).decode()

    def sri(self) -> str:
        return "sha384-" + base64.b64encode(hashlib.sha384(str(self.r.random()).encode()).digest()).decode()

    def png_b64(self, n: int) -> str:
        raw = b"\x89PNG\r\n\x1a\n" + bytes(self.r.getrandbits(8) for _ in range(n))
        return base64.b64encode(raw).decode()

    def version(self) -> str:
        r = self.r
        return f"{r.randint(0, 9)}.{r.randint(0, 30)}.{r.randint(0, 40)}"

    def sk_test(self) -> str:
        return "sk_test_" + rs(self.r, self.r.choice([24, 99]))

    def pk_live(self) -> str:
        return self.r.choice(["pk_live_", "pk_test_"]) + rs(self.r, self.r.choice([24, 99]))

    def ssh_pub(self) -> str:
        r = self.r
        if r.random() < 0.5:
            return "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + rs(r, 43, B64) + f" user{r.randint(1, 99)}@laptop"
        return "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQ" + rs(r, 500, B64) + "= deploy@ci"

    def pub_block(self) -> list[str]:
        r = self.r
        typ = r.choice(["PUBLIC KEY", "CERTIFICATE"])
        start = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" if typ == "PUBLIC KEY" else "MIIDdzCCAl+gAwIBAgIE"
        n = 6 if typ == "PUBLIC KEY" else 18
        body = start + rs(r, 64 * n - len(start) - 8, B64)
        lines = [body[i:i + 64] for i in range(0, len(body), 64)]
        return [f"-----BEGIN {typ}-----", *lines, f"-----END {typ}-----"]

    def css_class(self) -> str:
        r = self.r
        return " ".join("css-" + rs(r, 6, string.ascii_lowercase + string.digits) + "-" + r.choice(
            ["Button", "Card", "Header", "Grid"]) for _ in range(3)) + " sc-" + rs(r, 6, string.ascii_letters)

    def chunk(self) -> str:
        return f"static/js/{self.r.choice(['main', 'vendors', '787', 'runtime'])}.{rs(self.r, 20, HEX)}.chunk.js"


PLACEHOLDERS = [
    "<YOUR_API_KEY>", "REPLACE_ME", "changeme", "xxxxxxxxxxxxxxxx", "your-api-key-here",
    "<token>", "TODO", "XXXXXXXXXXXXXXXXXXXX", "dummy", "${API_KEY}", "{{ api_key }}",
    "<insert-token-here>", "PLACEHOLDER", "********",
]


# ------------------------------------------------------------------------- builder
class FB:
    """A file being written: lines plus labels plus planted negatives."""

    def __init__(self, path: str):
        self.path = path
        self.lines: list[str] = []
        self.labels: list[dict] = []
        self.negs: list[dict] = []

    def add(self, *lines: str) -> None:
        for ln in lines:
            self.lines.extend(ln.split("\n"))

    def pos(self, line: str, kind: str, value: str) -> None:
        assert "\n" not in line and value in line, (line, value)
        self.lines.append(line)
        self.labels.append({"path": self.path, "line": len(self.lines), "kind": kind, "value": value})

    def neg(self, line: str, category: str) -> None:
        assert "\n" not in line
        self.lines.append(line)
        self.negs.append({"path": self.path, "line": len(self.lines), "category": category})

    def pem(self, s: Secrets, indent: str = "", first_prefix: str | None = None) -> None:
        begin, body, end = s.pem()
        first = (first_prefix if first_prefix is not None else indent) + begin
        self.lines.append(first)
        lab = {"path": self.path, "line": len(self.lines), "kind": "private-key", "value": begin}
        self.lines.extend(indent + b for b in body)
        self.lines.append(indent + end)
        lab["end_line"] = len(self.lines)
        self.labels.append(lab)

    def pub_block(self, n: Negs, indent: str = "") -> None:
        block = n.pub_block()
        self.lines.append(indent + block[0])
        self.negs.append({"path": self.path, "line": len(self.lines), "category": "public-key-block"})
        self.lines.extend(indent + b for b in block[1:])

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


FILLER_PY = [
    "import logging", "log = logging.getLogger(__name__)", "", "def handler(event, context):",
    "    items = [x for x in event.get('Records', []) if x]", "    return {'statusCode': 200}",
    "class Config:", "    timeout = 30", "    retries = 3", "# TODO: move to settings module",
    "    if not items:", "        raise ValueError('no records')", "",
]
FILLER_GENERIC = ["", "# ----------------------------------------------------------------",
                  "# maintained by the platform team", ""]


def filler(rng: random.Random, pool: list[str], n: int) -> list[str]:
    return [rng.choice(pool) for _ in range(n)]


# ----------------------------------------------------------------------- templates
# Each template: (rng, Secrets, Negs, idx) -> FB.  Kinds chosen at random from the
# template's pool so that over the whole corpus every kind is well represented.

def t_gha(r, s, n, i):
    f = FB(f"svc{i}/.github/workflows/{r.choice(['ci', 'deploy', 'release', 'nightly'])}.yml")
    f.add(f"name: deploy-{i}", "on:", "  push:", "    branches: [main]", "jobs:", "  build:",
          "    runs-on: ubuntu-latest", "    env:")
    f.neg("      GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}", "placeholder-gha")
    f.neg("      NODE_AUTH_TOKEN: ${{ secrets.NPM_TOKEN }}", "placeholder-gha")
    v = s.npm(); f.pos(f"      NPM_TOKEN: {v}", "npm-token", v)
    v = s.slack_webhook(); f.pos(f"      SLACK_WEBHOOK_URL: {v}", "slack-webhook", v)
    v = s.aws_id(); f.pos(f"      AWS_ACCESS_KEY_ID: {v}", "aws-access-key", v)
    v = s.aws_secret(); f.pos(f"      AWS_SECRET_ACCESS_KEY: {v}", "generic-secret", v)
    f.neg("      AWS_REGION: us-east-1", "config")
    f.add("    steps:")
    f.neg(f"      - uses: actions/checkout@{n.gitsha()} # v4.1.1", "git-sha")
    f.neg(f"      - uses: actions/setup-node@{n.gitsha()}", "git-sha")
    f.add("        with:", "          node-version: 20")
    f.add("      - name: Publish", "        run: |")
    v = s.github(); f.pos(f'          curl -sS -H "Authorization: token {v}" https://api.github.com/repos/acme/app/releases', "github-token", v)
    f.neg('          curl -H "Authorization: Bearer ${{ secrets.DEPLOY_TOKEN }}" https://deploy.acme.io', "placeholder-gha")
    f.add("      - name: Notify", "        uses: slackapi/slack-github-action@v1.26.0", "        with:")
    f.neg("          slack-bot-token: ${{ secrets.SLACK_BOT_TOKEN }}", "placeholder-gha")
    if r.random() < 0.6:
        v = s.slack_token(); f.pos(f"          slack-token: {v}", "slack-token", v)
    return f


def t_compose(r, s, n, i):
    f = FB(f"svc{i}/docker-compose{r.choice(['', '.prod', '.override'])}.yml")
    f.add("services:", "  db:")
    f.neg(f"    image: postgres@sha256:{n.sha256()}", "sha256-digest")
    f.add("    environment:")
    v = s.password(); f.pos(f"      - POSTGRES_PASSWORD={v}", "generic-secret", v)
    f.neg("      - POSTGRES_USER=app", "config")
    f.add("  api:", f"    image: ghcr.io/acme/api:{n.version()}", "    environment:")
    v = s.url_cred(); f.pos(f"      DATABASE_URL: {v}", "url-credentials", v)
    f.neg("      REDIS_PASSWORD: ${REDIS_PASSWORD}", "placeholder-env")
    f.neg("      REDIS_URL: redis://redis:6379/0", "url-no-creds")
    f.neg("      BROKER_URL: amqp://guest:guest@rabbitmq:5672//", "url-trivial-creds")
    k = r.choice(["stripe-key", "openai-key", "anthropic-key", "google-api-key", "jwt"])
    v = s.for_kind(k)
    name = {"stripe-key": "STRIPE_SECRET_KEY", "openai-key": "OPENAI_API_KEY",
            "anthropic-key": "ANTHROPIC_API_KEY", "google-api-key": "GOOGLE_MAPS_KEY",
            "jwt": "SERVICE_JWT"}[k]
    f.pos(f"      {name}: \"{v}\"", k, v)
    f.neg(f"      STRIPE_PUBLISHABLE_KEY: {n.pk_live()}", "stripe-publishable")
    f.neg("      JWT_EXPIRES_IN: 3600", "config")
    f.add("    secrets:", "      - db_password", "secrets:", "  db_password:")
    f.neg("    file: ./secrets/db_password.txt", "reference")
    return f


def t_helm(r, s, n, i):
    f = FB(f"charts/app{i}/values{r.choice(['', '-prod', '-staging'])}.yaml")
    f.add("replicaCount: 2", "image:", "  repository: registry.acme.io/app")
    f.neg(f"  tag: \"{n.version()}\"", "version")
    f.neg(f"  digest: sha256:{n.sha256()}", "sha256-digest")
    f.add("auth:")
    f.neg('  existingSecret: ""', "config")
    v = s.password(); f.pos(f"  password: {v}", "generic-secret", v)
    v = s.password(); f.pos(f'  postgresPassword: "{v}"', "generic-secret", v)
    f.add("externalServices:")
    v = s.google(); f.pos(f"  mapsApiKey: {v}", "google-api-key", v)
    v = s.gitlab(); f.pos(f"  gitlabToken: {v}", "gitlab-token", v)
    f.neg("  gitlabUrl: https://gitlab.com", "config")
    f.add("ingress:", "  tls:", "    - secretName: app-tls", "      hosts: [app.acme.io]")
    f.add("tls:")
    f.neg("  secretName: app-tls", "config")
    f.add("  crt: |")
    f.pub_block(n, "    ")
    f.add("  key: |")
    f.pem(s, "    ")
    f.add("podAnnotations:")
    f.neg(f"  checksum/config: {n.sha256()}", "sha256-checksum")
    f.neg("  password_min_length: 12", "config-number")
    return f


def t_k8s(r, s, n, i):
    f = FB(f"k8s/app{i}/{r.choice(['secret', 'secrets', 'creds'])}.yaml")
    f.add("apiVersion: v1", "kind: Secret", "metadata:", f"  name: app{i}-creds", "type: Opaque", "stringData:")
    v = s.url_cred(); f.pos(f"  DATABASE_URL: \"{v}\"", "url-credentials", v)
    v = s.stripe(); f.pos(f"  STRIPE_API_KEY: {v}", "stripe-key", v)
    v = s.jwt(); f.pos(f"  service-token: {v}", "jwt", v)
    v = s.azure_conn(); f.pos(f"  AZURE_STORAGE_CONNECTION_STRING: \"{v}\"", "azure-storage-key", v)
    f.add("---", "apiVersion: apps/v1", "kind: Deployment", "metadata:", f"  name: app{i}", "spec:",
          "  template:", "    spec:", "      containers:", "        - name: app")
    f.neg(f"          image: registry.acme.io/app@sha256:{n.sha256()}", "sha256-digest")
    f.add("          env:", "            - name: DB_PASSWORD", "              valueFrom:")
    f.neg("                secretKeyRef:", "reference")
    f.neg(f"                  name: app{i}-creds", "reference")
    f.neg("                  key: DB_PASSWORD", "reference")
    f.add("            - name: API_TOKEN", "              valueFrom:", "                secretKeyRef:",
          "                  name: api", "                  key: token")
    f.add("---", "apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: settings", "data:")
    f.neg("  token_type: Bearer", "config")
    f.neg("  auth_token_ttl: \"86400\"", "config-number")
    f.neg(f"  request_id_seed: {n.uuid()}", "uuid")
    f.neg("  token_url: https://oauth2.googleapis.com/token", "config-url")
    return f


def t_tfvars(r, s, n, i):
    f = FB(f"infra/{r.choice(['prod', 'staging', 'dev'])}{i}/terraform.tfvars")
    f.neg('region         = "eu-west-1"', "config")
    f.neg(f'ami            = "ami-0{rs(r, 16, HEX)}"', "id")
    f.neg(f'kms_key_id     = "arn:aws:kms:eu-west-1:{r.randint(10**11, 10**12 - 1)}:key/{n.uuid()}"', "arn")
    v = s.password(); f.pos(f'db_password    = "{v}"', "generic-secret", v)
    v = rs(r, 32, HEX); f.pos(f'datadog_api_key = "{v}"', "generic-secret", v)
    v = s.github(); f.pos(f'github_token   = "{v}"', "github-token", v)
    v = s.aws_id(); f.pos(f'access_key     = "{v}"', "aws-access-key", v)
    v = s.aws_secret(); f.pos(f'secret_key     = "{v}"', "generic-secret", v)
    f.neg('vault_token_path = "secret/data/ci/token"', "reference")
    f.neg(f'tenant_id      = "{n.uuid()}"', "uuid")
    f.neg('admin_password = var.admin_password', "reference")
    if r.random() < 0.5:
        f.add('tls_private_key = <<EOT')
        f.pem(s)
        f.add("EOT")
    f.neg('password_reset_token_expiry = 3600', "config-number")
    return f


def t_ipynb(r, s, n, i):
    f = FB(f"notebooks/{r.choice(['explore', 'eval', 'prompting', 'etl'])}_{i}.ipynb")
    # hand-formatted JSON (like nbformat's indent=1), one source line per JSON line
    f.add("{", ' "cells": [', "  {", '   "cell_type": "code",', '   "execution_count": 1,',
          '   "metadata": {},', '   "outputs": [],', '   "source": [')
    f.add('    "import os\\n",', '    "import openai\\n",')
    k = r.choice(["openai-key", "anthropic-key", "google-api-key", "github-token", "pypi-token"])
    v = s.for_kind(k)
    if k == "openai-key":
        f.pos(f'    "openai.api_key = \\"{v}\\"\\n",', k, v)
    elif k == "anthropic-key":
        f.pos(f'    "os.environ[\\"ANTHROPIC_API_KEY\\"] = \\"{v}\\"\\n",', k, v)
    elif k == "google-api-key":
        f.pos(f'    "genai.configure(api_key=\\"{v}\\")\\n",', k, v)
    elif k == "github-token":
        f.pos(f'    "gh = Github(\\"{v}\\")\\n",', k, v)
    else:
        f.pos(f'    "!twine upload -u __token__ -p {v} dist/*\\n",', k, v)
    f.neg('    "client = openai.OpenAI(api_key=os.environ[\\"OPENAI_API_KEY\\"])\\n",', "reference")
    f.neg(f'    "MODEL_SHA = \\"{n.sha256()}\\"\\n",', "sha256")
    k2 = r.choice(["openai-key", "anthropic-key", "generic-secret", "aws-access-key"])
    v = s.for_kind(k2)
    if k2 == "generic-secret":
        f.pos(f'    "HF_API_TOKEN = \\"{v}\\"\\n",', k2, v)
    elif k2 == "aws-access-key":
        f.pos(f'    "s3 = boto3.client(\\"s3\\", aws_access_key_id=\\"{v}\\")\\n",', k2, v)
    else:
        f.pos(f'    "key = \\"{v}\\"\\n",', k2, v)
    f.add('    "resp = client.chat.completions.create(model=\\"gpt-4o\\", messages=msgs)"', "   ]", "  },")
    f.add("  {", '   "cell_type": "code",', '   "execution_count": 2,', '   "metadata": {},', '   "outputs": [',
          "    {", '     "data": {')
    f.neg(f'      "image/png": "{n.png_b64(r.randint(3000, 12000))}",', "base64-image")
    f.add('      "text/plain": [', '       "<Figure size 640x480 with 1 Axes>"', "      ]", "     },",
          '     "metadata": {},', '     "output_type": "display_data"', "    }", "   ],", '   "source": [',
          '    "plt.plot(losses)"', "   ]", "  }", " ],", ' "metadata": {', '  "kernelspec": {',
          '   "display_name": "Python 3",', '   "language": "python",', '   "name": "python3"', "  }", " },",
          ' "nbformat": 4,', ' "nbformat_minor": 5', "}")
    return f


def t_history(r, s, n, i):
    f = FB(f"scripts/debug_{i}.sh")
    f.add("#!/usr/bin/env bash", "set -euo pipefail")
    v = s.jwt(); f.pos(f'curl -s -H "Authorization: Bearer {v}" https://api.acme.io/v2/orders | jq .', "jwt", v)
    v = s.github(); f.pos(f'curl -H "Authorization: token {v}" https://api.github.com/user/repos', "github-token", v)
    v = s.aws_id(); f.pos(f"export AWS_ACCESS_KEY_ID={v}", "aws-access-key", v)
    v = s.aws_secret(); f.pos(f"export AWS_SECRET_ACCESS_KEY={v}", "generic-secret", v)
    v = s.openai(); f.pos(f'curl https://api.openai.com/v1/models -H "Authorization: Bearer {v}"', "openai-key", v)
    v = s.anthropic(); f.pos(f'curl https://api.anthropic.com/v1/messages -H "x-api-key: {v}" -H "anthropic-version: 2023-06-01"', "anthropic-key", v)
    v = s.slack_webhook(); f.pos(f"curl -X POST -H 'Content-type: application/json' --data '{{\"text\":\"deployed\"}}' {v}", "slack-webhook", v)
    v = s.gitlab(); f.pos(f'curl --header "PRIVATE-TOKEN: {v}" "https://gitlab.com/api/v4/projects"', "gitlab-token", v)
    v = s.url_cred(); f.pos(f'psql "{v}" -c "select 1"' if v.startswith("postgres") else f"export DATABASE_URL='{v}'", "url-credentials", v)
    f.neg('curl -H "Authorization: Bearer $TOKEN" https://api.acme.io/v2/health', "placeholder-env")
    f.neg("export GITHUB_TOKEN=$(gh auth token)", "reference")
    f.neg('export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE', "aws-example")
    f.neg('export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', "aws-example")
    f.neg(f"git checkout {n.gitsha()}", "git-sha")
    f.neg(f"echo '{n.sha256()}  release.tar.gz' | sha256sum -c -", "sha256")
    f.neg('export OPENAI_API_KEY="<YOUR_API_KEY>"', "placeholder")
    return f


def t_dotfiles(r, s, n, i):
    files = []
    f = FB(f"home{i}/.netrc")
    v = s.password(); f.pos(f"machine api.heroku.com login ops@acme.io password {v}", "generic-secret", v)
    f.neg("machine example.com login anonymous password changeme", "placeholder")
    files.append(f)
    f = FB(f"home{i}/.git-credentials")
    v = s.url_cred().split("://", 1)[1].split("@")[0]
    v = f"https://{v}@github.com"
    f.pos(v, "url-credentials", v)
    files.append(f)
    f = FB(f"home{i}/.gitconfig")
    f.add("[user]", "\tname = Dev", "\temail = dev@acme.io", "[credential]")
    f.neg("\thelper = store", "config")
    f.add('[http "https://gitlab.acme.io/"]')
    v = s.gitlab(); f.pos(f"\textraheader = PRIVATE-TOKEN: {v}", "gitlab-token", v)
    f.neg(f"\tsigningkey = {rs(r, 16, HEX).upper()}", "gpg-key-id")
    files.append(f)
    f = FB(f"web{i}/.npmrc")
    v = s.npm(); f.pos(f"//registry.npmjs.org/:_authToken={v}", "npm-token", v)
    v = s.github(); f.pos(f"//npm.pkg.github.com/:_authToken={v}", "github-token", v)
    f.neg("//registry.acme.io/:_authToken=${NPM_TOKEN}", "placeholder-env")
    f.neg("@acme:registry=https://npm.pkg.github.com", "config")
    files.append(f)
    f = FB(f"pkg{i}/.pypirc")
    f.add("[distutils]", "index-servers =", "    pypi", "    testpypi", "", "[pypi]")
    f.neg("username = __token__", "config")
    v = s.pypi(); f.pos(f"password = {v}", "pypi-token", v)
    f.add("", "[testpypi]", "repository = https://test.pypi.org/legacy/", "username = __token__")
    f.neg("password = <your-testpypi-token>", "placeholder")
    files.append(f)
    f = FB(f"home{i}/.ssh/id_{r.choice(['rsa', 'ed25519', 'deploy'])}")
    f.pem(s)
    files.append(f)
    f = FB(f"home{i}/.ssh/authorized_keys")
    for _ in range(3):
        f.neg(n.ssh_pub(), "ssh-public-key")
    files.append(f)
    return files


def t_csharp(r, s, n, i):
    f = FB(f"dotnet/App{i}/Settings.cs")
    f.add("namespace Acme.Billing;", "", "public static class Settings", "{")
    v = s.google(); f.pos(f'    private const string MapsApiKey = "{v}";', "google-api-key", v)
    pw = s.password()
    v = (f"Server=tcp:acme-sql{i}.database.windows.net,1433;Initial Catalog=billing;"
         f"User ID=billing_app;Password={pw};Encrypt=True;")
    f.pos(f'    public const string Db = "{v}";', "generic-secret", pw)
    v = s.azure_conn(); f.pos(f'    public static readonly string Blob = "{v}";', "azure-storage-key", v)
    v = s.stripe(); f.pos(f'    internal const string StripeSecret = "{v}";', "stripe-key", v)
    f.neg('    public const string PasswordHeader = "X-Api-Key";', "config")
    f.neg(f'    public const string BuildId = "{n.gitsha()}";', "git-sha")
    f.neg('    public static string ApiToken => Environment.GetEnvironmentVariable("API_TOKEN");', "reference")
    f.neg(f'    public static readonly Guid ClientId = Guid.Parse("{n.uuid()}");', "uuid")
    f.add("}")
    return f


def t_go(r, s, n, i):
    f = FB(f"go/svc{i}/internal/config/{r.choice(['config', 'defaults', 'secrets'])}.go")
    f.add("package config", "", "const (")
    v = s.stripe(); f.pos(f'\tstripeKey   = "{v}"', "stripe-key", v)
    v = s.slack_token(); f.pos(f'\tslackToken  = "{v}"', "slack-token", v)
    f.neg(f'\tbuildCommit = "{n.gitsha()}"', "git-sha")
    f.neg(f'\tVersion     = "v{n.version()}"', "version")
    f.add(")", "", "func DSN() string {")
    v = s.url_cred(); f.pos(f'\treturn "{v}"', "url-credentials", v)
    f.add("}", "", "var defaults = map[string]string{")
    v = s.generic(); f.pos(f'\t"api_key": "{v}",', "generic-secret", v)
    f.neg('\t"api_key_header": "X-API-Key",', "config")
    f.neg(f'\t"trace_id": "{rs(r, 32, HEX)}",', "hex-id")
    f.add("}", "", "func token() string {")
    f.neg('\treturn os.Getenv("GITHUB_TOKEN")', "reference")
    f.add("}")
    return f


def t_rust(r, s, n, i):
    f = FB(f"rust/crate{i}/src/{r.choice(['consts', 'client', 'auth'])}.rs")
    v = s.anthropic(); f.pos(f'const ANTHROPIC_KEY: &str = "{v}";', "anthropic-key", v)
    v = s.generic(); f.pos(f'pub const CLIENT_SECRET: &str = "{v}";', "generic-secret", v)
    v = s.pypi(); f.pos(f'static PYPI_TOKEN: &str = "{v}";', "pypi-token", v)
    f.neg(f'pub const SCHEMA_HASH: &str = "{n.sha256()}";', "sha256")
    f.neg('let token = std::env::var("API_TOKEN").expect("API_TOKEN not set");', "reference")
    f.neg('const MAX_TOKEN_LEN: usize = 4096;', "config-number")
    f.add("", "fn client() -> Client {", "    Client::builder()")
    v = s.jwt(); f.pos(f'        .bearer("{v}")', "jwt", v)
    f.add("        .build()", "}")
    return f


def t_php(r, s, n, i):
    f = FB(f"wp{i}/wp-config.php")
    f.add("<?php")
    f.neg("define( 'DB_NAME', 'wordpress' );", "config")
    f.neg("define( 'DB_USER', 'wp' );", "config")
    v = s.password(); f.pos(f"define( 'DB_PASSWORD', '{v}' );", "generic-secret", v)
    for name in ("AUTH_KEY", "SECURE_AUTH_KEY"):
        v = rs(r, 64, B62 + "!#%*-_=+[]{}|:,.<>?~^@")
        f.pos(f"define( '{name}', '{v}' );", "generic-secret", v)
    f.add("", "$config = [")
    v = s.stripe(); f.pos(f"    'stripe_secret' => '{v}',", "stripe-key", v)
    v = s.generic(); f.pos(f"    'mailgun_api_key' => '{v}',", "generic-secret", v)
    f.neg(f"    'stripe_publishable' => '{n.pk_live()}',", "stripe-publishable")
    f.neg(f"    'stripe_test_secret' => '{n.sk_test()}',", "stripe-test")
    f.neg("    'password' => getenv('DB_PASSWORD'),", "reference")
    f.add("];")
    v = s.password(); f.pos(f"$password = '{v}';", "generic-secret", v)
    return f


def t_kotlin(r, s, n, i):
    f = FB(f"android/app{i}/src/main/java/io/acme/{r.choice(['Keys', 'ApiConfig', 'BuildKeys'])}.kt")
    f.add("package io.acme", "", "object Keys {")
    v = s.google(); f.pos(f'    const val MAPS_API_KEY = "{v}"', "google-api-key", v)
    v = s.slack_token(); f.pos(f'    private const val SLACK_TOKEN = "{v}"', "slack-token", v)
    v = s.generic(); f.pos(f'    val apiKey = "{v}"', "generic-secret", v)
    f.neg(f'    const val FIREBASE_APP_ID = "1:{r.randint(10**11, 10**12)}:android:{rs(r, 16, HEX)}"', "public-id")
    f.neg('    val token: String = BuildConfig.API_TOKEN', "reference")
    f.neg(f'    const val VERSION_NAME = "{n.version()}"', "version")
    f.add("}")
    return f


def t_log(r, s, n, i):
    f = FB(f"logs/{r.choice(['access', 'app', 'nginx', 'worker'])}-{i}.log")
    for _ in range(r.randint(30, 60)):
        ts = f"2026-10-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z"
        x = r.random()
        ip = f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"
        if x < 0.06:
            v = s.github(); f.pos(f'{ip} - - [{ts}] "GET /api/v1/sync?access_token={v} HTTP/1.1" 200 512', "github-token", v)
        elif x < 0.12:
            v = s.generic(); f.pos(f'{ip} - - [{ts}] "GET /export?format=csv&api_key={v} HTTP/1.1" 200 9812', "generic-secret", v)
        elif x < 0.17:
            v = s.google(); f.pos(f"{ts} INFO geocode request url=https://maps.googleapis.com/maps/api/geocode/json?address=Berlin&key={v}", "google-api-key", v)
        elif x < 0.22:
            v = s.azure_sas(); f.pos(f"{ts} DEBUG upload to https://acmedata.blob.core.windows.net/exports/report.csv?{v} status=201", "azure-sas", v)
        elif x < 0.26:
            v = s.url_cred(); f.pos(f"{ts} ERROR could not connect to {v}: connection refused", "url-credentials", v)
        elif x < 0.30:
            v = s.jwt(); f.pos(f"{ts} DEBUG outgoing headers={{'Authorization': 'Bearer {v}'}}", "jwt", v)
        elif x < 0.55:
            f.neg(f'{ip} - - [{ts}] "GET /static/{n.chunk()} HTTP/1.1" 200 {r.randint(100, 99999)}', "webpack-chunk")
        elif x < 0.75:
            f.neg(f"{ts} INFO request_id={n.uuid()} trace_id={rs(r, 32, HEX)} status=200", "uuid")
        elif x < 0.85:
            f.neg(f"{ts} INFO deployed commit {n.gitsha()} version {n.version()}", "git-sha")
        else:
            f.neg(f"{ts} WARN token refresh failed for user {r.randint(1, 9999)}: token_type=Bearer expires_in=3600", "config")
    return f


def t_dotnet_config(r, s, n, i):
    f = FB(f"dotnet/App{i}/{r.choice(['Web.config', 'App.config'])}")
    f.add('<?xml version="1.0" encoding="utf-8"?>', "<configuration>", "  <connectionStrings>")
    pw = s.password()
    f.pos(f'    <add name="Main" connectionString="Data Source=sql{i}.acme.local;Initial Catalog=Orders;User Id=orders;Password={pw};" providerName="System.Data.SqlClient" />', "generic-secret", pw)
    f.neg('    <add name="Local" connectionString="Server=(localdb)\\mssqllocaldb;Database=dev;Trusted_Connection=True;" />', "config")
    f.add("  </connectionStrings>", "  <appSettings>")
    v = s.generic(); f.pos(f'    <add key="ClientSecret" value="{v}" />', "generic-secret", v)
    v = s.azure_conn(); f.pos(f'    <add key="StorageConnectionString" value="{v}" />', "azure-storage-key", v)
    f.neg(f'    <add key="ClientId" value="{n.uuid()}" />', "uuid")
    f.neg('    <add key="ApiKey" value="__API_KEY__" />', "placeholder")
    f.add("  </appSettings>", "</configuration>")
    return f


def t_jdbc(r, s, n, i):
    f = FB(f"java/svc{i}/src/main/resources/application{r.choice(['', '-prod'])}.properties")
    f.neg("spring.application.name=orders", "config")
    pw = s.password()
    f.pos(f"spring.datasource.url=jdbc:postgresql://pg{i}.internal:5432/orders?user=orders&password={pw}&ssl=true", "generic-secret", pw)
    v = s.password(); f.pos(f"spring.datasource.password={v}", "generic-secret", v)
    pw = s.password()
    f.pos(f"reporting.jdbc=jdbc:mysql://rep{i}.internal:3306/rep?useSSL=true&user=rep&password={pw}", "generic-secret", pw)
    f.neg("spring.datasource.username=orders", "config")
    f.neg("spring.redis.password=${REDIS_PASSWORD}", "placeholder-env")
    v = s.generic(); f.pos(f"app.jwt.secret={v}", "generic-secret", v)
    f.neg("app.jwt.expiration-ms=86400000", "config-number")
    f.neg("server.ssl.key-store-password=${KEYSTORE_PASSWORD:changeit}", "placeholder-env")
    v = s.slack_webhook(); f.pos(f"alerts.slack.webhook={v}", "slack-webhook", v)
    return f


def t_python(r, s, n, i):
    f = FB(f"py/proj{i}/{r.choice(['client', 'sync', 'tasks', 'settings'])}.py")
    f.add("import os", "import requests", "")
    f.add(*filler(r, FILLER_PY, r.randint(3, 15)))
    v = s.github(); f.pos(f'HEADERS = {{"Authorization": f"token {v}", "Accept": "application/vnd.github+json"}}', "github-token", v)
    v = s.openai(); f.pos(f'client = openai.OpenAI(api_key="{v}")', "openai-key", v)
    v = s.anthropic(); f.pos(f'claude = anthropic.Anthropic(api_key="{v}")', "anthropic-key", v)
    v = rs(r, 50, string.ascii_lowercase + string.digits + "!@#%^&*(-_=+)")
    f.pos(f"SECRET_KEY = '{v}'", "generic-secret", v)
    f.neg('DB_PASSWORD = os.environ["DB_PASSWORD"]', "reference")
    f.neg('token = os.getenv("SLACK_BOT_TOKEN", "")', "reference")
    f.neg("password_reset_token_expiry = 3600", "config-number")
    f.neg("def get_secret_key(self) -> str:", "code")
    f.neg(f'CACHE_KEY = "{n.sha256()}"', "sha256")
    f.neg('AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"', "aws-example")
    f.neg('AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"', "aws-example")
    f.neg(f'API_KEY = "{r.choice(PLACEHOLDERS)}"', "placeholder")
    f.neg(f'stripe.api_key = "{n.sk_test()}"', "stripe-test")
    f.neg(f'password = "{r.choice(["changeme", "REPLACE_ME", "<password>", "xxxxxxxxxxxxxxxx"])}"', "placeholder")
    f.add(*filler(r, FILLER_PY, r.randint(3, 15)))
    f.add("def sync():")
    v = s.generic(); f.pos(f'    resp = requests.post(URL, headers={{"X-Api-Key": "{v}"}}, timeout=10)', "generic-secret", v)
    v = s.aws_id(); f.pos(f'    s3 = boto3.client("s3", aws_access_key_id="{v}",', "aws-access-key", v)
    v = s.aws_secret(); f.pos(f'                      aws_secret_access_key="{v}")', "generic-secret", v)
    if r.random() < 0.4:
        f.add("PRIVATE_KEY = \"\"\"")
        f.pem(s, first_prefix="")
        f.add("\"\"\"")
    f.add(*filler(r, FILLER_PY, r.randint(3, 15)))
    return f


def t_csv(r, s, n, i):
    f = FB(f"data/{r.choice(['credentials', 'service_accounts', 'keys_export', 'vendors'])}_{i}.csv")
    f.add("service,owner,key,created")
    for _ in range(r.randint(6, 14)):
        k = r.choice(["stripe-key", "aws-access-key", "github-token", "npm-token", "slack-token", "google-api-key", "pypi-token",
                      "NEG", "NEG", "NEG"])
        day = f"2026-0{r.randint(1, 9)}-{r.randint(10, 28)}"
        if k == "NEG":
            c = r.choice(["uuid", "sha", "pk"])
            v = {"uuid": n.uuid, "sha": n.sha256, "pk": n.pk_live}[c]()
            f.neg(f"{r.choice(['billing', 'search', 'ledger'])},team-{r.randint(1, 9)},{v},{day}",
                  {"uuid": "uuid", "sha": "sha256", "pk": "stripe-publishable"}[c])
        else:
            v = s.for_kind(k)
            f.pos(f"{k.split('-')[0]},team-{r.randint(1, 9)},{v},{day}", k, v)
    return f


def t_readme(r, s, n, i):
    f = FB(f"docs/proj{i}/README.md")
    f.add(f"# Project {i}", "", "## Configuration", "", "| Variable | Example | Notes |", "|---|---|---|")
    f.neg("| `OPENAI_API_KEY` | `sk-...` | from the dashboard |", "placeholder")
    f.neg("| `GITHUB_TOKEN` | `ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx` | needs `repo` scope |", "placeholder")
    f.neg("| `AWS_ACCESS_KEY_ID` | `AKIAIOSFODNN7EXAMPLE` | |", "aws-example")
    f.neg("| `STRIPE_KEY` | `sk_test_4eC39HqLyjWDarjtT1zdp7dc` | test mode |", "stripe-test")
    k = r.choice(["npm-token", "slack-token", "stripe-key", "gitlab-token", "anthropic-key"])
    v = s.for_kind(k)
    f.pos(f"| `{k.upper().replace('-', '_')}` | `{v}` | shared team token, rotate quarterly |", k, v)
    f.add("", "Quick start:", "", "```bash")
    f.neg("export DATABASE_URL=postgres://user:password@localhost:5432/dev", "url-trivial-creds")
    f.neg("export SECRET_KEY=<generate with `openssl rand -hex 32`>", "placeholder")
    v = s.url_cred(); f.pos(f"export STAGING_DATABASE_URL={v}", "url-credentials", v)
    f.add("```", "", f"Built from commit `{n.gitsha()}`.", "")
    f.neg(f"Checksum: `sha256:{n.sha256()}`", "sha256")
    return f


def t_html(r, s, n, i):
    f = FB(f"web{i}/public/{r.choice(['index', 'app', 'dashboard'])}.html")
    f.add("<!doctype html>", "<html>", "<head>")
    f.neg(f'  <script src="https://cdn.jsdelivr.net/npm/bootstrap@5.3.2/dist/js/bootstrap.bundle.min.js" integrity="{n.sri()}" crossorigin="anonymous"></script>', "sri-hash")
    f.neg(f'  <script defer src="/{n.chunk()}"></script>', "webpack-chunk")
    f.add("</head>", "<body>")
    f.neg(f'  <div class="{n.css_class()}">', "css-class")
    f.neg(f'  <img alt="logo" src="data:image/png;base64,{n.png_b64(r.randint(400, 1500))}">', "data-uri")
    f.add("  </div>", "  <script>", "    const firebaseConfig = {")
    v = s.google(); f.pos(f'      apiKey: "{v}",', "google-api-key", v)
    f.neg(f'      authDomain: "acme-{i}.firebaseapp.com",', "config")
    f.neg(f'      appId: "1:{r.randint(10**11, 10**12)}:web:{rs(r, 22, HEX)}",', "public-id")
    f.add("    };")
    f.neg(f'    const stripe = Stripe("{n.pk_live()}");', "stripe-publishable")
    v = s.generic(); f.pos(f'    const config = {{ apiUrl: "/api", apiKey: "{v}", retries: 3 }};', "generic-secret", v)
    if r.random() < 0.5:
        v = s.jwt(); f.pos(f'    localStorage.setItem("token", "{v}");', "jwt", v)
    f.add("  </script>", "</body>", "</html>")
    return f


def t_env(r, s, n, i):
    f = FB(f"app{i}/{r.choice(['.env.production', '.env', '.env.local', '.env.staging'])}")
    f.neg("NODE_ENV=production", "config")
    v = s.url_cred(); f.pos(f"DATABASE_URL={v}", "url-credentials", v)
    v = rs(r, 64, HEX); f.pos(f"SECRET_KEY_BASE={v}", "generic-secret", v)
    v = s.stripe(); f.pos(f"STRIPE_SECRET_KEY={v}", "stripe-key", v)
    f.neg(f"NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY={n.pk_live()}", "stripe-publishable")
    v = s.openai(); f.pos(f"OPENAI_API_KEY={v}", "openai-key", v)
    v = s.anthropic(); f.pos(f'ANTHROPIC_API_KEY="{v}"', "anthropic-key", v)
    v = s.azure_sas(); f.pos(f"AZURE_BLOB_SAS_URL=https://acme{i}.blob.core.windows.net/uploads?{v}", "azure-sas", v)
    v = s.generic(); f.pos(f"AUTH_TOKEN={v}", "generic-secret", v)
    f.neg("JWT_EXPIRES_IN=3600", "config-number")
    f.neg("SMTP_PASSWORD=", "empty")
    f.neg("REDIS_PASSWORD=${REDIS_PASSWORD}", "placeholder-env")
    f.neg(f"SENTRY_RELEASE={n.gitsha()}", "git-sha")
    f.neg(f"APP_VERSION={n.version()}", "version")
    f.neg(f"GOOGLE_CLIENT_ID={r.randint(10**11, 10**12)}-{rs(r, 32, string.ascii_lowercase + string.digits)}.apps.googleusercontent.com", "public-id")
    return f


def t_postman(r, s, n, i):
    f = FB(f"postman/{r.choice(['Orders', 'Billing', 'Admin'])}API_{i}.postman_collection.json")
    f.add("{", '  "info": {', f'    "_postman_id": "{n.uuid()}",', f'    "name": "API {i}",',
          '    "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"', "  },",
          '  "auth": {', '    "type": "bearer",', '    "bearer": [')
    k = r.choice(["jwt", "github-token", "gitlab-token", "openai-key"])
    v = s.for_kind(k)
    f.pos(f'      {{ "key": "token", "value": "{v}", "type": "string" }}', k, v)
    f.add("    ]", "  },", '  "item": [', "    {", '      "name": "list orders",', '      "request": {',
          '        "method": "GET",', '        "header": [')
    v = s.generic(); f.pos(f'          {{ "key": "x-api-key", "value": "{v}", "type": "text" }},', "generic-secret", v)
    f.neg('          { "key": "Authorization", "value": "Bearer {{access_token}}", "type": "text" },', "placeholder")
    f.neg('          { "key": "Content-Type", "value": "application/json" }', "config")
    f.add("        ],")
    v = s.jwt(); f.pos(f'        "url": "https://api.acme.io/v1/orders?jwt={v}"', "jwt", v)
    f.add("      }", "    }", "  ],", '  "variable": [')
    f.neg('    { "key": "access_token", "value": "" },', "empty")
    f.neg(f'    {{ "key": "request_id", "value": "{n.uuid()}" }}', "uuid")
    f.add("  ]", "}")
    return f


def t_gcp_json(r, s, n, i):
    f = FB(f"deploy/gcp{i}/{r.choice(['service-account', 'sa-key', 'credentials'])}.json")
    begin, body, end = s.pem()
    pem = begin + "\\n" + "\\n".join(body) + "\\n" + end + "\\n"
    f.add("{", '  "type": "service_account",', f'  "project_id": "acme-prod-{i}",')
    f.pos(f'  "private_key": "{pem}",', "private-key", begin)
    f.add(f'  "client_email": "deployer@acme-prod-{i}.iam.gserviceaccount.com",',
          f'  "client_id": "{r.randint(10**20, 10**21)}",',
          '  "auth_uri": "https://accounts.google.com/o/oauth2/auth",')
    f.neg('  "token_uri": "https://oauth2.googleapis.com/token",', "config-url")
    f.add("}")
    return f


def t_lockfile_like(r, s, n, i):
    # package.json-ish manifest (not a lock file) with integrity-like and hash fields
    f = FB(f"web{i}/package.json")
    f.add("{", f'  "name": "@acme/web{i}",')
    f.neg(f'  "version": "{n.version()}",', "version")
    f.add('  "scripts": {')
    f.neg('    "deploy": "NPM_TOKEN=$NPM_TOKEN npm publish",', "placeholder-env")
    f.add("  },", '  "dependencies": {')
    for _ in range(r.randint(3, 8)):
        f.neg(f'    "pkg-{rs(r, 6, string.ascii_lowercase)}": "^{n.version()}",', "version")
    f.add("  },", '  "dist": {')
    f.neg(f'    "integrity": "{n.integrity()}",', "integrity")
    f.neg(f'    "shasum": "{n.gitsha()}",', "sha1")
    f.add("  }", "}")
    return f


def t_pubkeys(r, s, n, i):
    f = FB(f"certs/site{i}/{r.choice(['ca', 'server', 'public'])}.pem")
    for _ in range(r.randint(1, 3)):
        f.pub_block(n)
    return f


def t_big_py(r, s, n, i):
    # bulky ordinary module, a handful of secrets and negatives buried inside
    f = FB(f"py/big{i}/module_{r.randint(0, 999)}.py")
    for _ in range(r.randint(300, 700)):
        x = r.random()
        if x < 0.004:
            v = s.generic(); f.pos(f'    token = "{v}"', "generic-secret", v)
        elif x < 0.008:
            v = s.url_cred(); f.pos(f'    engine = create_engine("{v}")', "url-credentials", v)
        elif x < 0.02:
            f.neg(f'    digest = "{n.sha256()}"', "sha256")
        elif x < 0.03:
            f.neg(f'    run_id = "{n.uuid()}"', "uuid")
        else:
            f.add(r.choice(FILLER_PY))
    return f


TEMPLATES = [
    (t_gha, 4), (t_compose, 4), (t_helm, 4), (t_k8s, 4), (t_tfvars, 4), (t_ipynb, 6), (t_history, 4),
    (t_dotfiles, 4), (t_csharp, 3), (t_go, 4), (t_rust, 4), (t_php, 3), (t_kotlin, 4), (t_log, 4),
    (t_dotnet_config, 3), (t_jdbc, 4), (t_python, 5), (t_csv, 5), (t_readme, 6), (t_html, 4), (t_env, 4),
    (t_postman, 5), (t_gcp_json, 3), (t_lockfile_like, 4), (t_pubkeys, 4), (t_big_py, 6),
]


def generate(out: str | Path, seed: int = 101, scale: int = 3) -> dict:
    out = Path(out)
    tree = out / "tree"
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    r = random.Random(seed)
    s, n = Secrets(r), Negs(r)
    files: list[FB] = []
    for tmpl, count in TEMPLATES:
        for _ in range(count * scale):
            res = tmpl(r, s, n, f"{seed}_{len(files)}")
            files.extend(res if isinstance(res, list) else [res])
    labels, negs, total = [], [], 0
    seen = set()
    for fb in files:
        assert fb.path not in seen, fb.path
        seen.add(fb.path)
        p = tree / fb.path
        p.parent.mkdir(parents=True, exist_ok=True)
        data = fb.text()
        p.write_text(data, encoding="utf-8")
        total += len(data.encode())
        labels.extend(fb.labels)
        negs.extend(fb.negs)
    (out / "labels.json").write_text(json.dumps(labels, indent=1))
    (out / "negatives.json").write_text(json.dumps(negs, indent=1))
    return {"files": len(files), "bytes": total, "positives": len(labels), "negatives": len(negs)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--scale", type=int, default=3)
    a = ap.parse_args(argv)
    print(json.dumps(generate(a.out, a.seed, a.scale)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
