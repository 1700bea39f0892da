"""Azure Key Vault errors → exit codes and one-line messages naming the missing RBAC
data action or the fix; retries with jitter on throttling; soft delete handled; a
disabled newest version; no value in any message. Against the HTTPS fake."""

from __future__ import annotations

import uuid

import pytest

from keyturn.errors import Conflict, ExitCode, StoreUnavailable, UsageError
from keyturn.stores.azure import kv_name
from keyturn.stores.base import RotationId, SecretRef
from keyturn.values import SecretValue
from tests.azure_support import fresh_vault, make_store, read_by_name  # noqa: F401 (fixture)
from tests.fakes.azure_keyvault import FakeKeyVault


def _ref() -> SecretRef:
    return SecretRef("DB_PASSWORD", f"db/{uuid.uuid4().hex[:10]}", "value")


def _value() -> SecretValue:
    return SecretValue(f"canary-{uuid.uuid4().hex}", mask=False)


def _rotate(store, ref: SecretRef, value: SecretValue) -> str:  # type: ignore[no-untyped-def]
    rid = RotationId(f"r-{uuid.uuid4().hex}")
    head = store.describe(ref).head
    store.create_pending(ref, rid, value)
    version = store.promote(ref, rid, value, head)
    store.discard_pending(ref, rid)
    return str(version)


def test_rbac_denied_write_names_the_data_action_and_role(fresh_vault: FakeKeyVault) -> None:  # noqa: F811
    store, ref, value = make_store(fresh_vault), _ref(), _value()
    fresh_vault.deny.add("set")
    with pytest.raises(StoreUnavailable) as err:
        store.create_pending(ref, RotationId("r-1"), value)
    msg = str(err.value)
    assert err.value.exit_code == ExitCode.SERVICE
    assert "Microsoft.KeyVault/vaults/secrets/setSecret/action" in msg and "Key Vault Secrets Officer" in msg
    assert kv_name(ref.path) + "-keyturn-pending" in msg and "\n" not in msg and value.reveal() not in msg


def test_rbac_denied_read_in_preflight_is_a_usage_error(fresh_vault: FakeKeyVault) -> None:  # noqa: F811
    fresh_vault.deny.add("list")
    with pytest.raises(UsageError, match="readMetadata/action .* 'Key Vault Secrets Officer'") as err:
        make_store(fresh_vault).preflight(_ref())
    assert err.value.exit_code == ExitCode.USAGE


def test_throttling_is_retried_then_succeeds(fresh_vault: FakeKeyVault) -> None:  # noqa: F811
    store, ref = make_store(fresh_vault), _ref()
    fresh_vault.fail_next += [(429, "*"), (429, "*"), (503, "*")]
    assert store.describe(ref).exists is False
    statuses = [s for _, _, s in fresh_vault.log]
    assert statuses.count(429) == 2 and statuses.count(503) == 1 and statuses[-1] == 404


def test_throttled_after_retries_is_exit_4(fresh_vault: FakeKeyVault) -> None:  # noqa: F811
    store = make_store(fresh_vault, retries=2)
    fresh_vault.fail_next += [(429, "*")] * 5
    with pytest.raises(StoreUnavailable, match=r"throttled \(429\) after 3 attempts") as err:
        store.describe(_ref())
    assert err.value.exit_code == ExitCode.SERVICE


def test_wrong_token_is_a_401_naming_the_tenant(fresh_vault: FakeKeyVault) -> None:  # noqa: F811
    with pytest.raises(StoreUnavailable, match="refused the access token \\(401\\).*AZURE_TENANT_ID"):
        make_store(fresh_vault, token="not-the-token").describe(_ref())


def test_missing_version_is_a_service_error(fresh_vault: FakeKeyVault) -> None:  # noqa: F811
    store, ref = make_store(fresh_vault), _ref()
    _rotate(store, ref, _value())
    with pytest.raises(StoreUnavailable, match="version 0123 of .* disabled or gone"):
        store.read(ref, "0123")  # type: ignore[arg-type]


def test_soft_deleted_secret_is_a_conflict_naming_recover_and_purge(fresh_vault: FakeKeyVault) -> None:  # noqa: F811
    store, ref = make_store(fresh_vault), _ref()
    _rotate(store, ref, _value())
    fresh_vault.secrets[kv_name(ref.path).lower()].deleted_at = 1
    for call in (lambda: store.describe(ref), lambda: store.preflight(ref)):
        with pytest.raises(Conflict, match="soft-deleted — recover it .* or purge it") as err:
            call()
        assert err.value.exit_code == ExitCode.CONFLICT


def test_soft_deleted_pending_sibling_is_purged_not_tripped_over(fresh_vault: FakeKeyVault) -> None:  # noqa: F811
    store, ref = make_store(fresh_vault), _ref()
    pending = kv_name(ref.path) + "-keyturn-pending"
    store.create_pending(ref, RotationId("r-1"), _value())
    fresh_vault.secrets[pending.lower()].deleted_at = 1  # deleted by hand, not purged
    value = _value()
    assert store.create_pending(ref, RotationId("r-2"), value).same_as(value)
    got = store.read_pending(ref, RotationId("r-2"))
    assert got is not None and got.same_as(value)
    assert [v.value for v in fresh_vault.versions(pending)] == [value.reveal()]  # purged, then written anew
    assert ("DELETE", f"/deletedsecrets/{pending}", 204) in fresh_vault.log


def test_purge_protection_recovers_the_pending_sibling(tmp_path) -> None:  # type: ignore[no-untyped-def]
    kv = FakeKeyVault(purge_protection=True).start(str(tmp_path))
    try:
        store, ref = make_store(kv), _ref()
        pending = kv_name(ref.path) + "-keyturn-pending"
        first = _rotate(store, ref, _value())
        assert kv.secrets[pending.lower()].deleted_at is not None  # discarded: soft-deleted, purge refused
        value = _value()
        store.create_pending(ref, RotationId("r-2"), value)  # recovered, then written
        got = store.read_pending(ref, RotationId("r-2"))
        assert got is not None and got.same_as(value) and kv.secrets[pending.lower()].deleted_at is None
        assert store.describe(ref).current == first
    finally:
        kv.stop()


def test_soft_deleted_journal_is_recovered(fresh_vault: FakeKeyVault) -> None:  # noqa: F811
    store, ref = make_store(fresh_vault), _ref()
    token = store.journal(ref).save('{"versions": []}', "")
    fresh_vault.secrets[(kv_name(ref.path) + "-keyturn-rotation").lower()].deleted_at = 1
    assert store.journal(ref).load() == ('{"versions": []}', token)


def test_disabled_newest_version_reads_as_absent_and_stays_rotatable(fresh_vault: FakeKeyVault) -> None:  # noqa: F811
    store, ref = make_store(fresh_vault), _ref()
    first = _rotate(store, ref, _value())
    assert store.retire(ref, [first], allow_current=True) == [first]  # type: ignore[list-item]
    assert read_by_name(fresh_vault, ref) is None  # the SDK gets 403 SecretDisabled by name
    state = store.describe(ref)
    assert not state.exists and state.current is None and state.head
    store.preflight(ref)
    value = _value()
    second = _rotate(store, ref, value)
    assert read_by_name(fresh_vault, ref) == value.reveal() and store.live_versions(ref) == [second]


def test_promote_detects_a_write_between_compare_and_write(fresh_vault: FakeKeyVault) -> None:  # noqa: F811
    store, ref = make_store(fresh_vault), _ref()
    _rotate(store, ref, _value())
    head = store.describe(ref).head
    rid, value = RotationId("r-race"), _value()
    store.create_pending(ref, rid, value)
    real = store.write

    def racing(*args, **kw):  # type: ignore[no-untyped-def]
        if args[1] == kv_name(ref.path):
            fresh_vault.put(kv_name(ref.path), "outside-writer-value")
        return real(*args, **kw)

    store.write = racing  # type: ignore[method-assign]
    with pytest.raises(Conflict, match="written concurrently") as err:
        store.promote(ref, rid, value, head)
    assert value.reveal() not in str(err.value)


def test_manifest_refuses_a_path_key_vault_cannot_name(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from keyturn.errors import ManifestError
    from keyturn.manifest import parse_manifest

    base = ("version: 1\nstores:\n  kv: {type: azure, vault_url: 'https://v.vault.azure.net'}\nsecrets:\n"
            "  A: {store: kv, path: PATH_A, generator: {type: hex}}\n  B: {store: kv, path: PATH_B, generator: {type: hex}}\n")
    ok = parse_manifest(base.replace("PATH_A", "db/prod-password").replace("PATH_B", "db/other"), tmp_path / "k.yml")
    assert ok.model.stores["kv"].type == "azure"
    for bad, why in (("db_prod", "letters, digits and single '-'"), ("db--x", "single '-'"),
                     ("x-keyturn-pending", "reserved")):
        with pytest.raises(ManifestError, match=f"secrets.A.path: .*{why}"):
            parse_manifest(base.replace("PATH_A", bad).replace("PATH_B", "db/other"), tmp_path / "k.yml")
    with pytest.raises(ManifestError, match="already used"):  # Key Vault names ignore case
        parse_manifest(base.replace("PATH_A", "DB/Prod").replace("PATH_B", "db/prod"), tmp_path / "k.yml")
    with pytest.raises(ManifestError, match="vault_url"):
        parse_manifest(base.replace("https://v.vault.azure.net", "http://v").replace("PATH_A", "a")
                       .replace("PATH_B", "b"), tmp_path / "k.yml")


def test_retire_reports_only_what_reads_back_disabled(fresh_vault: FakeKeyVault) -> None:  # noqa: F811
    store, ref = make_store(fresh_vault), _ref()
    first = _rotate(store, ref, _value())
    second = _rotate(store, ref, _value())
    fresh_vault.ignore_disable = True  # the service acknowledges but the version stays enabled
    assert store.retire(ref, [first, second]) == []  # type: ignore[list-item]
    assert store.live_versions(ref) == [first, second]
    fresh_vault.ignore_disable = False
    assert store.retire(ref, [first, second]) == [first]  # type: ignore[list-item]


def test_readme_azure_example_is_a_valid_manifest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from keyturn.manifest import parse_manifest
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Azure Key Vault setup"):]
    example = section[section.index("```yaml") + 8:section.index("```", section.index("```yaml") + 8)]
    loaded = parse_manifest(example, tmp_path / "keyturn.yml")
    store = loaded.model.stores["kv"]
    assert store.type == "azure" and store.auth.method == "github-oidc"
    assert store.canonical_path(loaded.model.secrets["DB_PASSWORD"].path) == "db--prod-password"


def test_versions_are_read_across_pages(fresh_vault: FakeKeyVault) -> None:  # noqa: F811
    store, ref = make_store(fresh_vault), _ref()
    ids = [fresh_vault.put(kv_name(ref.path), f"hand-written-{i}-" + "x" * 12) for i in range(7)]
    fresh_vault.log.clear()
    assert store.live_versions(ref) == ids  # page size 3: three pages via nextLink
    assert [p for m, p, st in fresh_vault.log if m == "GET" and st == 200].count(f"/secrets/{kv_name(ref.path)}/versions") == 3
