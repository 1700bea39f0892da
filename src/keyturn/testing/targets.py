"""The target and check contracts, as tests.

:class:`TargetConformance`: subclass it and implement ``make_target()`` (a fresh, empty
target) and ``held(target, name)`` — what the place holds for an entry as an outside
reader sees it (the value where it can be read back, else a marker such as an update
time, or None when absent); override ``make_value()`` when the target takes only some
values (a JWK Set takes private key PEMs). Covers: write then ``is_current``, overwrite,
idempotent write, delete of present and missing entries, names refused by ``preflight``
without I/O, ``check_access`` on a reachable place, and no value in a target's repr or
errors.

:class:`CheckConformance`: implement ``make_check(passing: bool)``. Covers: ``run``
returns a :class:`~keyturn.validators.base.CheckResult` (never raises) with the right
``ok``, and its ``detail``/``summary`` never carry the value.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from keyturn.errors import KeyturnError
from keyturn.targets.base import Entry, Target
from keyturn.validators.base import Check
from keyturn.values import SecretValue


def _value() -> SecretValue:
    return SecretValue(f"conformance-{uuid.uuid4().hex}", mask=False)


def _since() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=5)


class TargetConformance:
    def make_target(self) -> Target:
        raise NotImplementedError

    def held(self, target: Target, name: str) -> str | None:
        raise NotImplementedError

    def make_value(self) -> SecretValue:
        """A fresh value the target accepts (default: a random string)."""
        return _value()

    @pytest.fixture
    def target(self) -> Target:
        return self.make_target()

    def test_write_then_is_current(self, target: Target) -> None:
        value = self.make_value()
        since = _since()
        target.check_access()
        report = target.write([Entry("CONF_A", value)])
        assert report.confirmed_at is None or isinstance(report.confirmed_at, datetime)
        assert self.held(target, "CONF_A") is not None
        assert target.is_current([Entry("CONF_A", value)], since=since)

    def test_overwrite_and_repeat_are_idempotent(self, target: Target) -> None:
        target.write([Entry("CONF_B", self.make_value())])
        new = self.make_value()
        target.write([Entry("CONF_B", new)])
        target.write([Entry("CONF_B", new)])  # a re-run writes the same again
        assert target.is_current([Entry("CONF_B", new)], since=_since())

    def test_delete_present_and_missing(self, target: Target) -> None:
        target.write([Entry("CONF_C", self.make_value()), Entry("CONF_D", self.make_value())])
        target.delete(["CONF_C"])
        assert self.held(target, "CONF_C") is None
        assert self.held(target, "CONF_D") is not None
        target.delete(["CONF_C", "CONF_NEVER_WRITTEN"])  # a missing entry is not an error

    def test_preflight_refuses_bad_names(self, target: Target) -> None:
        with pytest.raises(KeyturnError):
            target.preflight([Entry("not a name", self.make_value())])
        target.preflight([Entry("CONF_OK", self.make_value())])  # no exception, no I/O needed

    def test_no_value_in_repr_or_errors(self, target: Target) -> None:
        value = self.make_value()
        assert value.reveal() not in repr(target) and value.reveal() not in target.label
        try:
            target.preflight([Entry("bad name", value)])
        except KeyturnError as exc:
            assert value.reveal() not in str(exc)


class CheckConformance:
    def make_check(self, passing: bool) -> Check:
        raise NotImplementedError

    @pytest.mark.parametrize("passing", [True, False])
    def test_result_and_no_value_in_it(self, passing: bool) -> None:
        value = _value()
        result = self.make_check(passing).run("CONF_SECRET", value)
        assert result.ok is passing
        for text in (result.label, result.detail, result.summary):
            assert value.reveal() not in text
            assert "\n" not in text
