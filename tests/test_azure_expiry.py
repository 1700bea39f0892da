"""Key Vault ``expires_on`` from ``policy.max_age``: the Azure store sets it on the version it
promotes (promotion time + ``SecretRef.max_age``), a restored value keeps its version's expiry,
retiring keeps it, and the runtime passes the manifest's ``policy.max_age`` on the SecretRef.
Checked against the Key Vault HTTPS fake, which records ``attributes.exp`` in epoch seconds as
the REST API does, and read back with the real ``SecretClient``."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from keyturn.manifest import load_manifest
from keyturn.rotation.context import Runtime
from keyturn.stores.azure import AzureStore, kv_name
from keyturn.stores.base import RotationId, SecretRef, VersionId
from keyturn.values import SecretValue
from tests.azure_support import keyvault, make_store, reader  # noqa: F401 (fixture)
from tests.fakes.azure_keyvault import FakeKeyVault


def _ref(max_age: timedelta | None) -> SecretRef:
    return SecretRef("DB", f"exp/{uuid.uuid4().hex[:12]}", "value", max_age=max_age)


def _rotate(store: AzureStore, ref: SecretRef, value: str) -> tuple[str, int, int]:
    """Stage and promote one value; (version, epoch seconds just before, just after promote)."""
    rid = RotationId(uuid.uuid4().hex)
    head = store.describe(ref).head
    store.create_pending(ref, rid, SecretValue(value, mask=False))
    before = int(time.time())
    version = store.promote(ref, rid, SecretValue(value, mask=False), head)
    after = int(time.time()) + 1
    store.discard_pending(ref, rid)
    return version, before, after


def _exp(kv: FakeKeyVault, ref: SecretRef, version: str) -> int | None:
    (v,) = [v for v in kv.versions(kv_name(ref.path)) if v.id == version]
    return v.exp


def test_promote_sets_expires_on_to_now_plus_max_age(keyvault: FakeKeyVault) -> None:  # noqa: F811
    ref = _ref(timedelta(days=30))
    store = make_store(keyvault)
    version, before, after = _rotate(store, ref, "first-value-0001")
    exp = _exp(keyvault, ref, version)
    assert isinstance(exp, int)
    assert before + 30 * 86400 <= exp <= after + 30 * 86400
    # What any Key Vault client reads back (the real SecretClient, not keyturn).
    props = reader(keyvault).get_secret(kv_name(ref.path), version).properties
    assert props.expires_on is not None and int(props.expires_on.timestamp()) == exp
    # Only the promoted version carries it: the journal never does.
    journal = kv_name(ref.path) + "-keyturn-rotation"
    store.journal(ref).save("{}", "")
    assert all(v.exp is None for v in keyvault.versions(journal))


def test_without_max_age_no_expiry_is_set(keyvault: FakeKeyVault) -> None:  # noqa: F811
    ref = _ref(None)
    version, _, _ = _rotate(make_store(keyvault), ref, "first-value-0002")
    assert _exp(keyvault, ref, version) is None


def test_pending_sibling_has_no_expiry(keyvault: FakeKeyVault) -> None:  # noqa: F811
    ref = _ref(timedelta(days=7))
    store = make_store(keyvault)
    store.create_pending(ref, RotationId(uuid.uuid4().hex), SecretValue("pending-value-01", mask=False))
    (pending,) = keyvault.versions(kv_name(ref.path) + "-keyturn-pending")
    assert pending.exp is None


def test_restore_keeps_the_restored_versions_expiry_and_retire_keeps_dates(keyvault: FakeKeyVault) -> None:  # noqa: F811
    ref = _ref(timedelta(days=90))
    store = make_store(keyvault)
    first, _, _ = _rotate(store, ref, "first-value-0003")
    first_exp = _exp(keyvault, ref, first)
    # A later rotation with a shorter policy gets its own expiry.
    shorter = SecretRef(ref.name, ref.path, ref.key, max_age=timedelta(days=1))
    second, before, after = _rotate(store, shorter, "second-value-003")
    second_exp = _exp(keyvault, ref, second)
    assert second_exp is not None and before + 86400 <= second_exp <= after + 86400
    # Rollback writes the first value again: it is as old as it was, so it keeps first's expiry.
    restored = store.restore(shorter, VersionId(first), expect_current=VersionId(second))
    assert restored not in (first, second)
    assert keyvault.latest_value(kv_name(ref.path)) == "first-value-0003"
    assert _exp(keyvault, ref, restored) == first_exp
    # Retiring (disable) leaves the dates alone.
    assert store.retire(ref, [VersionId(second)]) == [second]
    assert _exp(keyvault, ref, second) == second_exp


def test_runtime_passes_policy_max_age_on_the_secret_ref(tmp_path: Path) -> None:
    (tmp_path / "keyturn.yml").write_text(
        "version: 1\nstores:\n  kv: {type: azure, vault_url: 'https://kv.vault.azure.net'}\nsecrets:\n"
        "  A: {store: kv, path: app/a, generator: {type: hex, bytes: 16}, policy: {max_age: 45d}}\n"
        "  B: {store: kv, path: app/b, generator: {type: hex, bytes: 16}}\n", encoding="utf-8")
    rt = Runtime(load_manifest(tmp_path / "keyturn.yml"), {})
    assert rt.ref("A") == SecretRef("A", "app/a", "value", max_age=timedelta(days=45))
    assert rt.ref("B").max_age == timedelta(days=90)  # the policy's default


@pytest.mark.parametrize("exp", ["2030-01-01T00:00:00Z", 1.5e9, True])
def test_fake_refuses_exp_that_is_not_epoch_seconds(keyvault: FakeKeyVault, exp: object) -> None:  # noqa: F811
    """The fake is as strict as the REST API: attributes.exp is an integer of seconds."""
    body = json.dumps({"value": "v", "attributes": {"exp": exp}}).encode()
    request = urllib.request.Request(f"{keyvault.url}/secrets/strict-{uuid.uuid4().hex[:8]}?api-version=7.5",
                                     data=body, method="PUT", headers={
                                         "Authorization": f"Bearer {keyvault.token}",
                                         "Content-Type": "application/json"})
    ctx = ssl.create_default_context(cafile=keyvault.ca_pem)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, context=ctx, timeout=30)  # noqa: S310 - loopback fake
    assert info.value.code == 400
    assert json.loads(info.value.read())["error"]["code"] == "BadParameter"
