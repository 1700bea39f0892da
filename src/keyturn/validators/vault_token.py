"""``vault-token`` check: ``auth/token/lookup-self`` with the new Vault/OpenBao token.

The value is a token. The check passes when the server accepts it (the token exists, is
not expired or revoked) and, when ``expect_policies`` is set, when the token carries each
of those policies. The detail carries the HTTP status or the token's accessor-free facts
(policies, TTL) only, never the token. hvac is imported lazily; never imports a store,
target or the engine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from keyturn.validators.base import CheckResult
from keyturn.values import SecretValue

if TYPE_CHECKING:
    from pathlib import Path

    from keyturn.validators.vault_token_config import VaultTokenCheckConfig


class VaultTokenCheck:
    def __init__(
        self,
        *,
        address: str | None = None,
        namespace: str | None = None,
        verify: bool | str = True,
        expect_policies: Sequence[str] = (),
        timeout: float = 10,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.address, self.namespace, self.verify = address, namespace, verify
        self.expect_policies = list(expect_policies)
        self.timeout = float(timeout)
        self._environ = environ

    @property
    def label(self) -> str:
        return "vault-token lookup-self" + (f" (policies {', '.join(self.expect_policies)})"
                                            if self.expect_policies else "")

    def run(self, secret_name: str, value: SecretValue) -> CheckResult:
        started = time.monotonic()
        ok, detail = self._check(value)
        return CheckResult(ok, self.label, detail, round(time.monotonic() - started, 3))

    def _check(self, value: SecretValue) -> tuple[bool, str]:
        import hvac
        import requests
        from hvac import exceptions as hvac_errors

        env = os.environ if self._environ is None else self._environ
        address = self.address or env.get("VAULT_ADDR", "")
        if not address:
            return False, "no Vault address: set address: in the check or VAULT_ADDR"
        namespace = self.namespace or env.get("VAULT_NAMESPACE") or None
        client: Any = hvac.Client(url=address, token=value.reveal(), namespace=namespace, verify=self.verify,
                                  timeout=self.timeout)
        try:
            data = client.auth.token.lookup_self()["data"]
        except hvac_errors.Forbidden:
            return False, "HTTP 403: the token is invalid, expired or revoked"
        except hvac_errors.VaultError as exc:
            return False, f"Vault answered {type(exc).__name__}"
        except requests.RequestException as exc:
            return False, f"Vault unreachable: {type(exc).__name__}"
        policies = sorted(str(p) for p in data.get("policies") or [])
        missing = [p for p in self.expect_policies if p not in policies]
        if missing:
            return False, f"token lacks policies {', '.join(missing)} (has {', '.join(policies) or 'none'})"
        return True, f"token valid, ttl {int(data.get('ttl') or 0)}s, policies {', '.join(policies) or 'none'}"


def build(config: VaultTokenCheckConfig, base_dir: Path,
          environ: Mapping[str, str] | None = None) -> VaultTokenCheck:
    """The registry's builder for ``- vault-token:`` entries (hvac is imported when the check runs)."""
    vt = config.vault_token
    return VaultTokenCheck(address=vt.address, namespace=vt.namespace,
                           verify=str(base_dir / vt.ca_cert) if vt.ca_cert else True,
                           expect_policies=list(vt.expect_policies), timeout=vt.timeout.total_seconds(),
                           environ=environ)
