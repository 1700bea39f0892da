"""SecretValue: nothing that could print it shows the plaintext; only reveal() does."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import io
import json
import logging
import pickle
import traceback
import urllib.parse
from collections.abc import Callable, Iterator

import pytest

from keyturn import gha
from keyturn.values import REDACTED, SecretValue, derived_forms

PLAIN = "x???~~~ canary+/&=é"  # base64 has + / and =, URL-encoding has work to do


@pytest.fixture(autouse=True)
def outside_actions(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    gha.reset_masks()
    yield
    gha.reset_masks()


@pytest.fixture
def v() -> SecretValue:
    return SecretValue(PLAIN)


def leaked(text: str) -> bool:
    return any(form in text for form in derived_forms(PLAIN))


# --------------------------------------------------------------------------- printing
def test_repr_str_format(v: SecretValue) -> None:
    assert repr(v) == str(v) == REDACTED == "SecretValue(***)"
    assert f"{v}" == f"{v!r}" == f"{v!s}" == f"{v:>40}" == f"{v:x}" == REDACTED
    # The old spellings too: each goes through __format__, __str__ or __repr__.
    assert format(v, "") == "{}".format(v) == "{0!r}".format(v) == REDACTED  # noqa: UP030, UP032
    assert "%s" % v == "%r" % (v,) == "%(x)s" % {"x": v} == REDACTED  # noqa: UP031
    assert repr([v, {"k": v}]) == f"[{REDACTED}, {{'k': {REDACTED}}}]"


def test_logging_shows_only_the_redacted_form(v: SecretValue) -> None:
    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    stream = io.StringIO()
    log = logging.getLogger("keyturn.tests.values")
    log.setLevel(logging.DEBUG)
    capture, text_handler = Capture(), logging.StreamHandler(stream)
    text_handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log.addHandler(capture)
    log.addHandler(text_handler)
    try:
        log.info("x %s", v)
        log.warning("y %r %s", v, {"v": v})
        log.error(v)
        log.info("z %(value)s", {"value": v})
    finally:
        log.removeHandler(capture)
        log.removeHandler(text_handler)
    messages = [r.getMessage() for r in records]
    assert messages == [
        f"x {REDACTED}",
        f"y {REDACTED} {{'v': {REDACTED}}}",
        REDACTED,
        f"z {REDACTED}",
    ]
    assert not leaked(stream.getvalue()) and REDACTED in stream.getvalue()


def test_exception_messages_and_tracebacks(v: SecretValue) -> None:
    with pytest.raises(ValueError) as info:
        raise ValueError(f"{v}")
    assert str(info.value) == REDACTED
    for exc in (ValueError(v), KeyError(v), RuntimeError("bad", v)):
        text = "".join(traceback.format_exception_only(type(exc), exc))
        assert REDACTED in text and not leaked(text)


def test_operations_that_fail_do_not_quote_the_value(v: SecretValue) -> None:
    failures: list[str] = []
    ops: list[Callable[[], object]] = [
        lambda: v + "x",  # type: ignore[operator]
        lambda: "x" + v,  # type: ignore[operator]
        lambda: " ".join([v]),  # type: ignore[list-item]  # noqa: FLY002
        lambda: int(v),  # type: ignore[call-overload]
        lambda: v[0],  # type: ignore[index]
    ]
    for op in ops:
        with pytest.raises(TypeError) as info:
            op()
        failures.append(str(info.value))
    assert failures and not any(leaked(f) for f in failures)


def test_json_dumps_refuses(v: SecretValue) -> None:
    with pytest.raises(TypeError, match=r"^Object of type SecretValue is not JSON serializable$"):
        json.dumps({"value": v})


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickling_refused(v: SecretValue, protocol: int) -> None:
    with pytest.raises(TypeError, match="SecretValue cannot be pickled"):
        pickle.dumps(v, protocol=protocol)
    with pytest.raises(TypeError, match="SecretValue cannot be pickled"):
        pickle.dumps({"nested": [v]}, protocol=protocol)


def test_getstate_does_not_hand_out_the_plaintext(v: SecretValue) -> None:
    with pytest.raises(TypeError):
        v.__getstate__()
    with pytest.raises(TypeError):
        v.__reduce_ex__(2)
    assert not hasattr(v, "__dict__")


def test_copy_and_deepcopy_return_the_same_redacted_object(v: SecretValue) -> None:
    assert copy.copy(v) is v
    assert copy.deepcopy(v) is v
    holder = {"values": [v], "name": "db"}
    clone = copy.deepcopy(holder)
    assert clone["values"][0] is v and clone is not holder
    assert repr(clone) == f"{{'values': [{REDACTED}], 'name': 'db'}}"


def test_copy_does_not_register_masks_again(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    value = SecretValue(PLAIN)
    assert "::add-mask::" in capsys.readouterr().err
    gha.reset_masks()
    copy.deepcopy([value, value])
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- identity
def test_equality_is_by_value_and_constant_time(v: SecretValue, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("keyturn.values.hmac.compare_digest", spy)
    same, other = SecretValue(PLAIN), SecretValue(PLAIN + "!")
    assert v == same
    assert not (v != same)  # noqa: SIM202 - __ne__ must agree
    assert v != other
    assert v.same_as(same) and not v.same_as(other)
    assert len(calls) == 5
    # Never equal to a plain string: that comparison would be neither deliberate nor constant-time.
    assert v != PLAIN and PLAIN != v
    assert len(calls) == 5


def test_hash_follows_equality(v: SecretValue) -> None:
    assert hash(v) == hash(SecretValue(PLAIN))
    assert len({v, SecretValue(PLAIN), SecretValue(PLAIN + "x")}) == 2
    assert hash(v) != hash(PLAIN)  # not the str's hash: a dict keyed by plaintext finds nothing
    assert {v: 1}.get(PLAIN) is None  # type: ignore[call-overload]


def test_immutable(v: SecretValue) -> None:
    with pytest.raises(AttributeError, match="immutable"):
        v._value = "other"
    with pytest.raises(AttributeError, match="immutable"):
        v.extra = 1
    with pytest.raises(AttributeError, match="immutable"):
        del v._value
    assert v.reveal() == PLAIN


# --------------------------------------------------------------------------- contents
def test_reveal_and_metadata(v: SecretValue) -> None:
    assert v.reveal() == PLAIN
    assert v.reveal_bytes() == PLAIN.encode("utf-8")
    assert len(v) == len(PLAIN) and v.byte_length == len(PLAIN.encode("utf-8"))
    assert bool(v) and not bool(SecretValue("", mask=False))
    assert not v.is_multiline and SecretValue("a\nb", mask=False).is_multiline
    assert SecretValue("a\rb", mask=False).is_multiline
    assert SecretValue(' {"a": 1} ', mask=False).is_json
    assert not SecretValue("{not json", mask=False).is_json and not v.is_json


def test_bytes_are_decoded(v: SecretValue) -> None:
    assert SecretValue(PLAIN.encode("utf-8")) == v


def test_non_utf8_bytes_error_does_not_quote_the_bytes() -> None:
    with pytest.raises(ValueError) as info:
        SecretValue(b"\xffsecret-bytes\xfe")
    assert str(info.value) == "SecretValue bytes must be valid UTF-8"
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert "0xff" not in str(info.value) and "secret-bytes" not in str(info.value)


@pytest.mark.parametrize("bad", [None, 123, ["x"], SecretValue("inner-value", mask=False)])
def test_only_str_or_bytes(bad: object) -> None:
    with pytest.raises(TypeError, match="^SecretValue takes str or bytes$"):
        SecretValue(bad)  # type: ignore[arg-type]


def test_derived_forms_base64_and_url_encodings(v: SecretValue) -> None:
    raw = PLAIN.encode("utf-8")
    forms = v.derived_forms()
    assert forms[0] == PLAIN
    std, url = base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()
    assert std != url and std.endswith("=")  # the sample exercises both alphabets and padding
    for form in (std, std.rstrip("="), url, url.rstrip("=")):
        assert form in forms
    assert urllib.parse.quote(PLAIN, safe="") in forms
    assert urllib.parse.quote_plus(PLAIN) in forms
    assert len(forms) == len(set(forms))
    assert forms == derived_forms(PLAIN)


def test_derived_forms_each_line_of_a_multiline_value() -> None:
    pem = "-----BEGIN KEY-----\r\nAAAAline-one\n\n   \nBBBBline-two\n-----END KEY-----\n"
    forms = SecretValue(pem, mask=False).derived_forms()
    for line in ("-----BEGIN KEY-----", "AAAAline-one", "BBBBline-two", "-----END KEY-----"):
        assert line in forms
    assert pem in forms
    assert "" not in forms and "   " not in forms


def test_derived_forms_json_string_leaves() -> None:
    value = json.dumps(
        {"user": "svc", "password": "p@ss-word-1", "nested": {"list": ["tok-a", 7, None, True]}}
    )
    forms = SecretValue(value, mask=False).derived_forms()
    for leaf in ("svc", "p@ss-word-1", "tok-a"):
        assert leaf in forms
    assert "7" not in forms and "user" not in forms  # numbers and keys are not leaves
    assert SecretValue("[not json", mask=False).derived_forms()[0] == "[not json"


def test_fingerprint_is_a_keyed_hmac(v: SecretValue) -> None:
    fp = v.fingerprint(b"key-one")
    assert fp == hmac.new(b"key-one", PLAIN.encode("utf-8"), hashlib.sha256).hexdigest()
    assert fp != v.fingerprint(b"key-two")
    assert fp != hashlib.sha256(PLAIN.encode("utf-8")).hexdigest()
    assert fp == SecretValue(PLAIN, mask=False).fingerprint(b"key-one")
    assert fp != SecretValue(PLAIN + "x", mask=False).fingerprint(b"key-one")
    with pytest.raises(ValueError, match="non-empty key"):
        v.fingerprint(b"")
    with pytest.raises(TypeError):
        v.fingerprint()  # type: ignore[call-arg]


@pytest.mark.parametrize(("text", "ok"), [
    ("hvs.CAESIJ-abc_123~!", True), ("", True), ("tok\n", False), ("a b", False), ("tab\t", False),
    ("caf\u00e9", False), ("\u0430bc", False), ("\x7f", False),
])
def test_visible_ascii_is_the_one_token_character_rule(text: str, ok: bool) -> None:
    from keyturn.values import visible_ascii

    assert visible_ascii(text) is ok
