"""GitHub credentials for keyturn's session: a token, or a GitHub App installation.

``GITHUB_TOKEN``, or ``KEYTURN_GITHUB_APP_ID`` + ``KEYTURN_GITHUB_APP_PRIVATE_KEY`` (PEM;
``\\n`` escapes accepted) with ``KEYTURN_GITHUB_APP_INSTALLATION_ID`` or, without it, the
installation on ``GITHUB_REPOSITORY`` looked up through PyGithub's ``GithubIntegration``.
The App wins when both are set. Keys and tokens never reach an error message. Must not
import a store or the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from github import Auth, GithubException, GithubIntegration

from keyturn.errors import ServiceError, UsageError
from keyturn.values import visible_ascii

NO_CREDENTIALS = (
    "github: no credentials — set GITHUB_TOKEN or KEYTURN_GITHUB_APP_ID/KEYTURN_GITHUB_APP_PRIVATE_KEY"
)


def auth_from_env(environ: Mapping[str, str], kwargs: dict[str, Any]) -> Auth.Auth:
    """The credential from ``environ``; ``kwargs`` are the ``Github`` client's (API root,
    no throttles, no retries), reused for the App's installation lookup."""
    token = environ.get("GITHUB_TOKEN", "")
    app_id = environ.get("KEYTURN_GITHUB_APP_ID", "").strip()
    private_key = environ.get("KEYTURN_GITHUB_APP_PRIVATE_KEY", "").strip()
    if token and not visible_ascii(token):
        raise UsageError("GITHUB_TOKEN contains whitespace, a control or a non-ASCII character — set the bare token")
    if app_id and private_key:
        if not app_id.isdigit():
            raise UsageError("KEYTURN_GITHUB_APP_ID must be the App's numeric id")
        pem = private_key.replace("\\n", "\n")
        try:
            from cryptography.hazmat.primitives.serialization import load_pem_private_key

            load_pem_private_key(pem.encode(), password=None)
        except (ValueError, TypeError):
            raise UsageError("KEYTURN_GITHUB_APP_PRIVATE_KEY is not an unencrypted PEM private key "
                             "(the .pem file GitHub generated for the App)") from None
        app_auth = Auth.AppAuth(app_id, pem)
        raw_id = environ.get("KEYTURN_GITHUB_APP_INSTALLATION_ID", "").strip()
        if raw_id:
            if not raw_id.isdigit():
                raise UsageError("KEYTURN_GITHUB_APP_INSTALLATION_ID must be a number")
            return app_auth.get_installation_auth(int(raw_id))
        repository = environ.get("GITHUB_REPOSITORY", "").strip()
        if "/" not in repository:
            raise UsageError(
                "github: set KEYTURN_GITHUB_APP_INSTALLATION_ID (or GITHUB_REPOSITORY to look it up) "
                "for the GitHub App"
            )
        owner, repo = repository.split("/", 1)
        integration = GithubIntegration(auth=app_auth, **kwargs)
        try:
            installation = integration.get_repo_installation(owner, repo)
        except GithubException as exc:  # its text may carry GitHub's response: not shown
            if exc.status == 404:
                raise ServiceError(
                    f"github: no installation of App {app_id} on {repository} — install the App "
                    "there or set KEYTURN_GITHUB_APP_INSTALLATION_ID"
                ) from None
            raise ServiceError(
                f"github: App {app_id} could not look up its installation on {repository} (HTTP {exc.status}) — "
                "check KEYTURN_GITHUB_APP_ID and KEYTURN_GITHUB_APP_PRIVATE_KEY"
            ) from None
        except (OSError, requests.RequestException) as exc:
            raise ServiceError(f"github: cannot reach the GitHub API to look up App {app_id}'s installation "
                               f"({type(exc).__name__}) — check GITHUB_API_URL and the network") from None
        return app_auth.get_installation_auth(int(installation.id))
    if token:
        return Auth.Token(token)
    raise UsageError(NO_CREDENTIALS)
