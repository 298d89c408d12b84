# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replace a file atomically, so that readers see the old content or the new, never half of it."""

from __future__ import annotations

import os
import tempfile


def write_text(path: str, text: str, mode: int, prefix: str = ".", suffix: str = ".tmp") -> None:
    """Write ``text`` to a hidden temp file in ``path``'s directory, fsync it, set ``mode``, rename it over ``path``.

    The temp file is removed when anything fails; ``path`` is then left as it was.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
