"""keyturn's own detectors: modern token formats, PEM keys, JWTs, URL credentials.

Each :class:`Detector` pairs loose, bounded *prefilter patterns* (compiled together
into one Hyperscan database by :mod:`keyturn.scan.prefilter`) with a precise finder run
only on the lines where one of them matched, plus validation that drops documented
examples and placeholders; formats with a documented checksum (GitHub, npm, PyPI) must
satisfy it (:mod:`keyturn.scan.checksums`). Imports only the stdlib,
:mod:`keyturn.scan.filters`, :mod:`keyturn.scan.finders` and :mod:`keyturn.scan.checksums`;
never stores, targets or cloud SDKs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from keyturn.scan import filters
from keyturn.scan.checksums import fails_format_checksum
from keyturn.scan.finders import (
    Finder,
    Hit,
    find_aws_key_id,
    find_npm,
    find_private_key,
    find_url_credentials,
    valid_jwt,
)

__all__ = ["BUILTIN", "Detector", "Finder", "Hit", "ci", "cs"]


def cs(*patterns: str) -> tuple[tuple[str, bool], ...]:
    """Case-sensitive prefilter patterns."""
    return tuple((p, False) for p in patterns)


def ci(*patterns: str) -> tuple[tuple[str, bool], ...]:
    """Case-insensitive prefilter patterns."""
    return tuple((p, True) for p in patterns)


@dataclass(frozen=True)
class Detector:
    id: str
    title: str
    description: str
    prefilter: tuple[tuple[str, bool], ...]  # (bounded regex, caseless): see keyturn.scan.prefilter
    find: Finder  # (line, whole text, offset of the line in text) -> hits
    severity: float = 8.0
    precision: str = "high"
    ds_types: tuple[str, ...] = field(default=())  # detect-secrets secret_type equivalents
    fulltext: str | None = None  # no prefilter patterns: this regex picks the candidate lines


def _regex_finder(
    pattern: str,
    *,
    flags: int = 0,
    group: int | str = 1,
    prefix: str | None = None,
    validate: Callable[[str, str], bool] | None = None,
) -> Finder:
    rx = re.compile(pattern, flags)
    strip = re.compile(prefix) if prefix else None

    def find(line: str, text: str, offset: int, path: str = "") -> Iterator[Hit]:
        for m in rx.finditer(line):
            value = m.group(group)
            if not value:
                continue
            body = value
            if strip is not None:
                pm = strip.match(value)
                body = value[pm.end() :] if pm else value
            if filters.is_false_positive(value, body=body):
                continue
            if validate is not None and not validate(value, line):
                continue
            yield m.start(group), m.end(group), value, 0

    return find


_B64 = "A-Za-z0-9+/"


def _checksum_holds(value: str, line: str) -> bool:
    """Classic 40-character GitHub tokens (``ghp_`` + 36) carry a CRC32, PyPI tokens are
    macaroons: :func:`keyturn.scan.checksums.fails_format_checksum`. ``github_pat_`` and
    longer classic-looking bodies have no documented checksum."""
    return not fails_format_checksum(value)


BUILTIN: tuple[Detector, ...] = (
    Detector(
        "github-token",
        "GitHub token",
        "A GitHub personal access, OAuth, user-to-server, server-to-server or refresh token.",
        cs(r"gh[pousr]_[A-Za-z0-9]{36}", r"github_pat_[A-Za-z0-9]{22}_"),
        _regex_finder(
            r"(?<![A-Za-z0-9_])((?:gh[pousr]_[A-Za-z0-9]{36,251})|(?:github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59,}))(?![A-Za-z0-9])",
            prefix=r"gh[pousr]_|github_pat_",
            validate=_checksum_holds,
        ),
        9.0,
        ds_types=("GitHub Token",),
    ),
    Detector(
        "gitlab-token",
        "GitLab token",
        "A GitLab personal/project/group access, deploy, runner, trigger or feed token.",
        cs(
            r"(?:glpat|gldt|glrt|glft|glsoat|glptt|glcbt|glimt|glagent|gloas)-[A-Za-z0-9_\-]{20}",
            r"GR1348941[A-Za-z0-9_\-]{20}",
        ),
        _regex_finder(
            r"(?<![A-Za-z0-9_-])((?:glpat|gldt|glrt|glft|glsoat|glptt|glcbt|glimt|glagent|gloas)-[A-Za-z0-9_\-]{20,64}|GR1348941[A-Za-z0-9_\-]{20,})(?![A-Za-z0-9_-])",
            prefix=r"[a-z]+-|GR1348941",
        ),
        9.0,
        ds_types=("GitLab Token",),
    ),
    Detector(
        "slack-token",
        "Slack token",
        "A Slack bot, user, app or configuration token.",
        cs(r"(?:xox[abposre](?:\.[a-z0-9]+)?|xapp)-[0-9A-Za-z]"),
        _regex_finder(
            r"(?<![A-Za-z0-9])((?:xox[abposre](?:\.[a-z0-9]+)?|xapp)-[0-9A-Za-z][0-9A-Za-z\-]{8,250})",
            prefix=r"x[a-z]+(\.[a-z0-9]+)?-",
        ),
        8.5,
        ds_types=("Slack Token",),
    ),
    Detector(
        "slack-webhook",
        "Slack webhook URL",
        "A Slack incoming-webhook or workflow URL (it grants posting).",
        ci(r"hooks\.slack\.com/"),
        _regex_finder(
            r"(https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_]{6,}/[A-Za-z0-9_]{6,}/[A-Za-z0-9_]{8,}(?:/[A-Za-z0-9_]+)?)",
            prefix=r"https?://hooks\.slack\.com/[a-z]+/",
        ),
        7.0,
    ),
    Detector(
        "stripe-key",
        "Stripe live secret key",
        "A Stripe live secret or restricted key.",
        cs(r"[rs]k_live_[0-9A-Za-z]{20}"),
        _regex_finder(
            r"(?<![A-Za-z0-9])([rs]k_live_[0-9A-Za-z]{20,247})(?![A-Za-z0-9])", prefix=r"[rs]k_live_"
        ),
        9.0,
        ds_types=("Stripe Access Key",),
    ),
    Detector(
        "anthropic-key",
        "Anthropic API key",
        "An Anthropic API or admin key.",
        cs(r"sk-ant-[a-z0-9]{2,10}-"),
        _regex_finder(
            r"(?<![A-Za-z0-9])(sk-ant-[a-z0-9]{2,10}-[A-Za-z0-9_\-]{32,})(?![A-Za-z0-9_-])",
            prefix=r"sk-ant-[a-z0-9]+-",
        ),
        9.0,
    ),
    Detector(
        "openai-key",
        "OpenAI API key",
        "An OpenAI project, service-account, admin or legacy API key.",
        cs(r"sk-[A-Za-z0-9_\-]{28}"),
        _regex_finder(
            r"(?<![A-Za-z0-9_-])(sk-(?!ant-)(?:(?:proj|svcacct|admin|None)-[A-Za-z0-9_\-]{40,250}|[A-Za-z0-9_\-]{0,80}T3BlbkFJ[A-Za-z0-9_\-]{20,80}|[A-Za-z0-9]{48}))(?![A-Za-z0-9_-])",
            prefix=r"sk-(?:proj-|svcacct-|admin-|None-)?",
        ),
        9.0,
        ds_types=("OpenAI Token",),
    ),
    Detector(
        "google-api-key",
        "Google API key",
        "A Google Cloud / Firebase / Maps API key.",
        cs(r"AIza[0-9A-Za-z_\-]{35}"),
        _regex_finder(r"(?<![A-Za-z0-9_-])(AIza[0-9A-Za-z_\-]{35})(?![A-Za-z0-9_-])", prefix="AIza"),
        7.5,
    ),
    Detector(
        "aws-access-key",
        "AWS access key",
        "An AWS access key id (AKIA…, ASIA…); secret access keys are reported as generic-secret.",
        cs(r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}"),
        find_aws_key_id,
        9.0,
        ds_types=("AWS Access Key",),
    ),
    Detector(
        "azure-storage-key",
        "Azure storage account key",
        "An Azure storage account key or connection string (AccountKey / SharedAccessKey).",
        ci(
            r"(?:AccountKey|SharedAccessKey|account_?key|storage_?key)[\"']?[ \t]*[=:][ \t]*[\"']?[A-Za-z0-9+/]{42}"
        ),
        _regex_finder(
            rf"(?i)(?:AccountKey|SharedAccessKey|account_?key|storage_?key)[\"']?\s*[=:]\s*[\"']?([{_B64}]{{42,86}}={{0,2}})(?![{_B64}])",
            validate=lambda v, line: len(v.rstrip("=")) in (42, 43, 86) or len(v) in (44, 88),
        ),
        9.0,
        ds_types=("Azure Storage Account access key",),
    ),
    Detector(
        "azure-sas",
        "Azure shared access signature",
        "An Azure SAS token (sig= with sv=/se= parameters).",
        cs(r"sig=(?:[A-Za-z0-9+/]|%2[bBfF]|%3[dD]){30}"),
        _regex_finder(
            r"(?:[?&;\"' ]|^)sig=((?:[A-Za-z0-9+/]|%2[bBfF]|%3[dD]){30,120}(?:=|%3[dD]){0,2})",
            validate=lambda v, line: bool(re.search(r"(?:^|[?&;\"' ])(?:sv|se|sp|skoid|sr)=", line)),
        ),
        8.0,
    ),
    Detector(
        "npm-token",
        "npm token",
        "An npm access token or .npmrc _authToken.",
        cs(r"npm_[A-Za-z0-9]{36}", r"_authToken[ \t]*=[ \t]*[\"']?[A-Za-z0-9_\-+/=]{20}"),
        find_npm,
        8.5,
        ds_types=("NPM tokens",),
    ),
    Detector(
        "pypi-token",
        "PyPI token",
        "A PyPI or TestPyPI API token.",
        cs(r"pypi-Ag[A-Za-z0-9_\-]{60}"),
        _regex_finder(
            r"(?<![A-Za-z0-9_-])(pypi-Ag[A-Za-z0-9_\-]{60,})",
            prefix="pypi-Ag[A-Za-z0-9]{15}",
            validate=_checksum_holds,
        ),
        8.5,
        ds_types=("PyPI Token",),
    ),
    Detector(
        "private-key",
        "Private key",
        "A PEM/OpenSSH/PGP/PuTTY private key (reported at its BEGIN line).",
        cs(r"-----BEGIN [A-Z0-9 ]{0,30}PRIVATE KEY", r"PuTTY-User-Key-File-[0-9]: "),
        find_private_key,
        9.5,
        ds_types=("Private Key",),
    ),
    Detector(
        "jwt",
        "JSON Web Token",
        "A signed JSON Web Token (header and payload decode to JSON).",
        cs(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8}"),
        _regex_finder(
            r"(?<![A-Za-z0-9_-])(eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{0,512})(?![A-Za-z0-9_-])",
            validate=valid_jwt,
            prefix=r"eyJ[A-Za-z0-9_\-]*\.",
        ),
        6.5,
        "medium",
        ds_types=("JSON Web Token",),
    ),
    Detector(
        "url-credentials",
        "Credentials in a URL or connection string",
        "A password embedded in a URL (scheme://user:password@host) or a DB connection string.",
        cs(r"[a-zA-Z][a-zA-Z0-9+.\-]{1,30}://[^\s:/?#@'\"`<>\[\]]{0,128}:[^\s/?#@'\"`<>\[\]]{3,256}@")
        + ci(
            r"://[^\s'\"`]{0,256}[?&;](?:password|passwd|pwd|pass)=[^&\s'\"`;#]{3}",
            r"(?:password|pwd)[ \t]*=[ \t]*[^;'\"\s]{3,256}[ \t]*;",
        ),
        find_url_credentials,
        8.0,
        ds_types=("Basic Auth Credentials",),
    ),
)
