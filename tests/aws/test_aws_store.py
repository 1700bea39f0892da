"""The store and journal conformance suites against a real moto server, plus the AWS
specifics: staging labels, foreign AWSPENDING, JSON fields kept byte for byte, the
journal's label CAS, first-version handling. Reads name ``VersionStage`` explicitly
(moto does not move its default version when labels move)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from keyturn.errors import Conflict, UsageError
from keyturn.stores.aws import AwsStore, AwsStoreConfig
from keyturn.stores.base import RotationId, SecretRef, Store
from keyturn.testing.stores import JournalConformance, StoreConformance
from keyturn.values import SecretValue


def _store(env: dict[str, str], **cfg: Any) -> AwsStore:
    return AwsStore("main", AwsStoreConfig(type="aws", **cfg), env, retries=1, backoff=0.01)


def _stages(sm: Any, name: str) -> dict[str, list[str]]:
    info = sm.describe_secret(SecretId=name)
    return {k: v for k, v in info["VersionIdsToStages"].items() if v}


def write_outside(sm: Any, name: str, text: str) -> str:
    """What a plain ``put-secret-value`` does on AWS (the new version becomes AWSCURRENT,
    the old one AWSPREVIOUS), done in two steps: moto's own put moves AWSCURRENT from the
    version it *created* as default, not from the one holding the label after a move."""
    vid = str(uuid.uuid4())
    sm.put_secret_value(SecretId=name, SecretString=text, ClientRequestToken=vid, VersionStages=["outside"])
    current = sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["VersionId"]
    sm.update_secret_version_stage(SecretId=name, VersionStage="AWSCURRENT", MoveToVersionId=vid,
                                   RemoveFromVersionId=current)
    sm.update_secret_version_stage(SecretId=name, VersionStage="outside", RemoveFromVersionId=vid)
    return vid


def _current(sm: Any, name: str) -> str:
    return str(sm.get_secret_value(SecretId=name, VersionStage="AWSCURRENT")["SecretString"])


class _AwsBackend:
    key = ""

    @pytest.fixture(autouse=True)
    def _server(self, env: dict[str, str], sm: Any) -> None:
        self.env = env
        self.sm = sm

    def make_store(self) -> Store:
        return _store(self.env)

    def make_ref(self, unique: str) -> SecretRef:
        return SecretRef(name="CONF_SECRET", path=f"conformance/{unique}", key=self.key)

    def read_by_name(self, store: Store, ref: SecretRef) -> str | None:
        try:
            text = _current(self.sm, ref.path)
        except self.sm.exceptions.ResourceNotFoundException:
            return None
        return json.loads(text)[ref.key] if ref.key else text

    def write_outside(self, store: Store, ref: SecretRef, value: str) -> None:
        write_outside(self.sm, ref.path, json.dumps({ref.key: value}) if ref.key else value)


class TestAwsConformance(_AwsBackend, StoreConformance):
    pass


class TestAwsJsonFieldConformance(_AwsBackend, StoreConformance):
    key = "password"


class TestAwsJournalConformance(_AwsBackend, JournalConformance):
    pass


# ---------------------------------------------------------------------------- specifics
def _rid() -> RotationId:
    return RotationId(f"20260101T000000Z-{uuid.uuid4().hex[:24]}")


def _val(tag: str) -> SecretValue:
    return SecretValue(f"{tag}-{uuid.uuid4().hex}", mask=False)


def _rotate(store: AwsStore, ref: SecretRef, value: SecretValue) -> str:
    rid = _rid()
    head = store.describe(ref).head
    store.create_pending(ref, rid, value)
    version = store.promote(ref, rid, value, head)
    store.discard_pending(ref, rid)
    return version


def test_pending_uses_the_rotation_id_and_staging_labels(env: dict[str, str], sm: Any) -> None:
    store = _store(env)
    ref = SecretRef("S", "app/db", "")
    first = _rotate(store, ref, _val("one"))
    rid = _rid()
    new = _val("two")
    store.create_pending(ref, rid, new)
    assert _stages(sm, "app/db") == {first: ["AWSCURRENT"], rid: ["AWSPENDING"]}
    assert sm.get_secret_value(SecretId="app/db", VersionStage="AWSPENDING")["VersionId"] == rid
    store.create_pending(ref, rid, _val("again"))  # adopted, not duplicated
    versions = sm.list_secret_version_ids(SecretId="app/db", IncludeDeprecated=True)["Versions"]
    assert len(versions) == 2
    assert store.promote(ref, rid, new, first) == rid
    assert _stages(sm, "app/db") == {first: ["AWSPREVIOUS"], rid: ["AWSCURRENT"]}  # AWSPENDING removed
    assert _current(sm, "app/db") == new.reveal()


def test_a_foreign_awspending_is_a_conflict_and_kept(env: dict[str, str], sm: Any) -> None:
    store = _store(env)
    ref = SecretRef("S", "app/foreign", "")
    _rotate(store, ref, _val("one"))
    sm.put_secret_value(SecretId="app/foreign", SecretString="other-tool-value-123456",
                        ClientRequestToken=str(uuid.uuid4()), VersionStages=["AWSPENDING"])
    before = _stages(sm, "app/foreign")
    with pytest.raises(Conflict, match="AWSPENDING .* another rotation or tool") as err:
        store.create_pending(ref, _rid(), _val("mine"))
    assert err.value.exit_code == 3
    assert _stages(sm, "app/foreign") == before
    assert sm.get_secret_value(SecretId="app/foreign", VersionStage="AWSPENDING")["SecretString"] == \
        "other-tool-value-123456"


def test_json_field_rotates_one_key_and_keeps_every_other_byte(env: dict[str, str], sm: Any) -> None:
    doc = '{\n  "username": "app",\n  "password": "old-password-1234",\n  "port": 5432,  "x": "\\u00e9"\n}\n'
    sm.create_secret(Name="app/json", SecretString=doc)
    store = _store(env, key="password")
    ref = SecretRef("S", "app/json", "password")
    store.preflight(ref)
    assert store.read(ref, store.describe(ref).current or "").reveal() == "old-password-1234"
    new = _val("new")
    _rotate(store, ref, new)
    assert _current(sm, "app/json") == doc.replace("old-password-1234", new.reveal())


def test_preflight_refuses_a_json_secret_without_the_field(env: dict[str, str], sm: Any) -> None:
    sm.create_secret(Name="app/nokey", SecretString='{"user": "a"}')
    with pytest.raises(UsageError, match="no field 'password'"):
        _store(env).preflight(SecretRef("S", "app/nokey", "password"))
    sm.create_secret(Name="app/plain", SecretString="not json at all")
    with pytest.raises(UsageError, match="not a JSON object"):
        _store(env).preflight(SecretRef("S", "app/plain", "password"))


def test_preflight_refuses_native_rotation_and_bad_names(env: dict[str, str], sm: Any) -> None:
    with pytest.raises(UsageError, match="not a Secrets Manager secret name"):
        _store(env).preflight(SecretRef("S", "has space", ""))
    with pytest.raises(UsageError, match="not a Secrets Manager secret name"):
        _store(env).preflight(SecretRef("S", "arn:aws:secretsmanager:us-east-1:1:secret:x", ""))


def test_retire_removes_labels_and_reports_only_label_less_versions(env: dict[str, str], sm: Any) -> None:
    store = _store(env)
    ref = SecretRef("S", "app/retire", "")
    first = _rotate(store, ref, _val("a"))
    second = _rotate(store, ref, _val("b"))
    assert set(store.live_versions(ref)) == {first, second}
    assert store.retire(ref, [first, second]) == [first]
    assert _stages(sm, "app/retire") == {second: ["AWSCURRENT"]}
    assert store.live_versions(ref) == [second]


def test_first_rotation_creates_the_secret_and_a_failed_one_removes_it(env: dict[str, str], sm: Any) -> None:
    store = _store(env, kms_key_id="alias/keyturn-test")
    ref = SecretRef("S", "app/new", "")
    rid = _rid()
    value = _val("first")
    store.create_pending(ref, rid, value)
    assert _stages(sm, "app/new") == {rid: ["AWSCURRENT", "AWSPENDING"]}  # AWS labels a first version itself
    info = sm.describe_secret(SecretId="app/new")
    assert {"Key": "keyturn:created-by-rotation", "Value": rid} in info["Tags"]
    assert info.get("KmsKeyId") == "alias/keyturn-test"
    store.discard_pending(ref, rid)  # verify failed: the secret this rotation created goes away
    assert not store.describe(ref).exists
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.describe_secret(SecretId="app/new")


def test_journal_is_a_tagged_sibling_and_a_concurrent_writer_loses(env: dict[str, str], sm: Any) -> None:
    store = _store(env)
    ref = SecretRef("S", "app/journal", "")
    slot = store.journal(ref)
    token = slot.save('{"op": 1}', "")
    info = sm.describe_secret(SecretId="app/journal.keyturn-rotation")
    assert {"Key": "keyturn:journal-for", "Value": "app/journal"} in info["Tags"]
    # Another writer moves AWSCURRENT between our read and our label move: the move's
    # RemoveFromVersionId no longer holds the label, so Secrets Manager refuses it.
    other = _store(env).journal(ref)
    real_describe = store._describe

    def racing_read(*a: Any, **kw: Any) -> Any:
        got = real_describe(*a, **kw)
        store._describe = real_describe  # type: ignore[method-assign]
        other.save('{"op": "other"}', token)
        return got

    store._describe = racing_read  # type: ignore[method-assign]
    with pytest.raises(Conflict, match="changed concurrently"):
        slot.save('{"op": 2}', token)
    assert slot.load()[0] == '{"op": "other"}'
