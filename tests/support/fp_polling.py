# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Poll with a deadline: the one wait loop of the test suites.

Importable from every Molecule verifier and integration test (pytest.ini puts tests/support
on the path; the verifiers run under the repository's pytest.ini too). Each suite keeps a
two-line wrapper with its own default timeout and interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(what: str, probe: Callable[[], T], timeout: float, interval: float,
               tolerate: tuple[type[BaseException], ...] = ()) -> T:
    """Call ``probe()`` every ``interval`` seconds until it returns something true; return that.

    Exceptions of the types in ``tolerate`` count as "not yet"; any other one propagates at
    once. After ``timeout`` seconds, fail (AssertionError) naming ``what`` and the last value
    or tolerated exception.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
        except tolerate as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not true after {timeout:g} s (last: {last!r})")
        time.sleep(interval)
