"""Human hand-off: a key only a vendor's dashboard can create.

``generator: {type: manual, instructions: "..."}``. A person creates the new key in
the vendor's dashboard and pipes it in: ``keyturn rotate NAME --value-from-stdin`` (or
``--value-fd N``) — never argv or a workflow input. The rest of the lifecycle (verify,
distribute, smoke, grace) runs as usual; when the old version's grace ends keyturn
retires it in the store and records "revoke the old key at the vendor" as a pending
action (``keyturn doctor`` shows it) until ``keyturn confirm-revoked NAME`` says it
was done.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from keyturn._internal.configbase import ConfigModel
from keyturn.errors import UsageError
from keyturn.issuers.base import IssueRequest, Issued


class ManualGen(ConfigModel):
    type: Literal["manual"]
    instructions: str = Field(
        default="", max_length=500,
        description="Shown with the pending revocation, e.g. 'SendGrid → Settings → API Keys → delete the old key'",
    )


class ManualIssuer:
    kind = "manual"
    fields: tuple[str, ...] = ()
    overlap = True
    human_revoke = True
    needs_value = True

    def __init__(self, secret: str, config: ManualGen, environ: Mapping[str, str], base_dir: Any = None) -> None:
        self.secret = secret
        self.instructions = config.instructions

    def preflight(self, current: str) -> None:
        return None

    def current_credential(self) -> str:
        return "manual:before-keyturn"  # the key in use before keyturn managed it: a person revokes it too

    def issue(self, request: IssueRequest) -> Issued:
        if request.supplied is None:
            raise UsageError(f"{self.secret}: generator manual takes the new value from a person — "
                             f"`keyturn rotate {self.secret} --value-from-stdin` (or --value-fd N)")
        return Issued(request.supplied, f"manual:{request.rotation_id}")

    def verify(self, issued: Issued) -> str | None:
        return None

    def revoke(self, credential_id: str) -> bool:
        return False  # a person does it at the vendor; `keyturn confirm-revoked` records it
