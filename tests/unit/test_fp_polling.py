# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared wait loop of the test suites (tests/support/fp_polling.py)."""

from __future__ import annotations

import itertools

import fp_polling
import pytest


def test_returns_the_first_true_value():
    values = iter([None, 0, "", {"ready": True}])
    assert fp_polling.wait_until("ready", lambda: next(values), timeout=5, interval=0) == {"ready": True}


def test_tolerated_errors_count_as_not_yet():
    calls = itertools.count()

    def probe():
        if next(calls) < 2:
            raise ConnectionRefusedError("not listening yet")
        return "up"

    assert fp_polling.wait_until("listening", probe, timeout=5, interval=0, tolerate=(OSError,)) == "up"


def test_other_errors_propagate_at_once():
    calls = itertools.count()

    def probe():
        next(calls)
        raise KeyError("bug in the probe")

    with pytest.raises(KeyError):
        fp_polling.wait_until("anything", probe, timeout=5, interval=0, tolerate=(OSError,))
    assert next(calls) == 1


def test_fails_after_the_timeout_naming_what_and_the_last_value():
    with pytest.raises(AssertionError, match=r"the replica: not true after 0\.05 s \(last: \[\]\)"):
        fp_polling.wait_until("the replica", lambda: [], timeout=0.05, interval=0.01)


def test_fails_naming_the_last_tolerated_error():
    def probe():
        raise TimeoutError("no answer")

    with pytest.raises(AssertionError, match=r"the api: not true .*TimeoutError\('no answer'\)"):
        fp_polling.wait_until("the api", probe, timeout=0.05, interval=0.01, tolerate=(OSError,))
