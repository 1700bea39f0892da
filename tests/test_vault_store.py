"""The store conformance suite against a real OpenBao dev server, plus Vault specifics."""

from __future__ import annotations

import hvac
import pytest

from keyturn.errors import StoreUnavailable, UsageError
from keyturn.manifest import VaultStoreConfig
from keyturn.stores.base import SecretRef, Store
from keyturn.stores.vault import VaultStore
from keyturn.testing.stores import JournalConformance, StoreConformance


class _VaultBackend:
    @pytest.fixture(autouse=True)
    def _server(self, openbao):  # type: ignore[no-untyped-def]
        self.server = openbao

    def make_store(self) -> Store:
        env = {"VAULT_ADDR": self.server.url, "VAULT_TOKEN": self.server.token}
        return VaultStore("vault", VaultStoreConfig(type="openbao"), env)

    def make_ref(self, unique: str) -> SecretRef:
        return SecretRef(name="CONF_SECRET", path=f"conformance/{unique}", key="value")

    def _client(self) -> hvac.Client:
        return hvac.Client(url=self.server.url, token=self.server.token)

    def read_by_name(self, store: Store, ref: SecretRef) -> str | None:
        try:
            resp = self._client().secrets.kv.v2.read_secret_version(
                path=ref.path, mount_point="secret", raise_on_deleted_version=False
            )
        except hvac.exceptions.InvalidPath:
            return None
        data = resp["data"]["data"]
        return data.get(ref.key) if data else None

    def write_outside(self, store: Store, ref: SecretRef, value: str) -> None:
        self._client().secrets.kv.v2.create_or_update_secret(
            path=ref.path, secret={ref.key: value}, mount_point="secret"
        )


class TestVaultConformance(_VaultBackend, StoreConformance):
    pass


class TestVaultJournalConformance(_VaultBackend, JournalConformance):
    pass


def _mount(openbao, name: str, max_versions: int) -> None:  # type: ignore[no-untyped-def]
    client = hvac.Client(url=openbao.url, token=openbao.token)
    client.sys.enable_secrets_engine("kv", path=name, options={"version": "2"})
    client.secrets.kv.v2.configure(max_versions=max_versions, mount_point=name)


def test_refuses_mount_keeping_one_version(openbao, unique) -> None:  # type: ignore[no-untyped-def]
    _mount(openbao, f"one-{unique}", 1)
    store = VaultStore("v", VaultStoreConfig(type="vault", mount=f"one-{unique}"),
                       {"VAULT_ADDR": openbao.url, "VAULT_TOKEN": openbao.token})
    with pytest.raises(UsageError, match="keeps only 1 version .* at least 2"):
        store.preflight(SecretRef("S", "x", "value"))


def test_refuses_non_kv2_mount(openbao, unique) -> None:  # type: ignore[no-untyped-def]
    store = VaultStore("v", VaultStoreConfig(type="vault", mount=f"missing-{unique}"),
                       {"VAULT_ADDR": openbao.url, "VAULT_TOKEN": openbao.token})
    with pytest.raises((UsageError, StoreUnavailable), match=f"missing-{unique}"):
        store.preflight(SecretRef("S", "x", "value"))


def test_missing_address_and_token_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="VAULT_ADDR"):
        VaultStore("v", VaultStoreConfig(type="vault"), {})
    with pytest.raises(UsageError, match="VAULT_TOKEN"):
        VaultStore("v", VaultStoreConfig(type="vault"), {"VAULT_ADDR": "http://127.0.0.1:1"})


def test_wrong_token_names_the_fix(openbao) -> None:  # type: ignore[no-untyped-def]
    store = VaultStore("v", VaultStoreConfig(type="vault"), {"VAULT_ADDR": openbao.url, "VAULT_TOKEN": "nope"})
    with pytest.raises(StoreUnavailable) as err:
        store.describe(SecretRef("S", "x", "value"))
    assert "VAULT_TOKEN" in str(err.value) or "permission denied" in str(err.value)


def test_server_down_is_a_service_error_after_retries(dead_url: str) -> None:
    store = VaultStore("v", VaultStoreConfig(type="vault"),
                       {"VAULT_ADDR": dead_url, "VAULT_TOKEN": "t"},
                       retries=1, backoff=0.01)
    with pytest.raises(StoreUnavailable, match="after 2 attempts") as err:
        store.describe(SecretRef("S", "x", "value"))
    assert err.value.exit_code == 4


def test_secret_written_outside_keyturn_is_described_from_the_store(openbao, unique) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    hvac.Client(url=openbao.url, token=openbao.token).secrets.kv.v2.create_or_update_secret(
        path=f"outside/{unique}", secret={"value": "written-by-hand-1234"}, mount_point="secret")
    store = VaultStore("v", VaultStoreConfig(type="openbao"), {"VAULT_ADDR": openbao.url, "VAULT_TOKEN": openbao.token})
    ref = SecretRef("S", f"outside/{unique}", "value")
    state = store.describe(ref)
    assert state.exists and state.current == "1" and state.head == "1"
    assert state.created_at is not None and abs(datetime.now(UTC) - state.created_at) < timedelta(minutes=5)
    assert store.journal(ref).load() == (None, "")


def test_an_untrusted_tls_certificate_is_named_as_such_and_not_retried(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """requests' SSLError is a ConnectionError too: it must be reported as a TLS problem
    (with the setting that fixes it), once, not retried as 'is the server up?'."""
    import http.server
    import ssl
    import threading

    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    hits: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            hits.append(1)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(ctx)
    raw_accepts: list[int] = []
    original = server.get_request

    def get_request():  # type: ignore[no-untyped-def]
        sock, addr = original()
        raw_accepts.append(1)
        return ctx.wrap_socket(sock, server_side=True), addr

    server.get_request = get_request  # type: ignore[method-assign]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {"VAULT_ADDR": f"https://127.0.0.1:{server.server_address[1]}", "VAULT_TOKEN": "t" * 20}
        store = VaultStore("v", VaultStoreConfig(type="vault"), env, retries=3, backoff=0.01)
        with pytest.raises(StoreUnavailable) as exc:
            store.describe(SecretRef("S", "a/b", "value"))
        assert "TLS verification failed" in str(exc.value) and "VAULT_CACERT" in str(exc.value), str(exc.value)
        assert "unsealed" not in str(exc.value)
        assert len(raw_accepts) == 1, "a TLS failure is not retried"
        assert hits == []
    finally:
        server.shutdown()
