"""Writing files safely: to a temporary name beside the target, renamed into place on success,
so an interrupted write (an error, a full disk, Ctrl-C) never leaves a broken file."""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from .errors import OutputError


def _default_mode() -> int:
    """Permissions of a newly created file under this process's umask (mkstemp makes 0600)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o644


def write_problem(out: Path, e: OSError) -> str:
    """One readable line for an OSError while writing `out`."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{out}: cannot write, the disk is full"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{out}: cannot write, no permission to write in {out.parent if str(out.parent) else '.'}"
    return f"{out}: cannot write ({e.strerror or e})"


class atomic_path:
    """Context manager giving a temporary path beside `out`, renamed onto `out` on success.

    Whatever goes wrong inside (an error, a full disk, Ctrl-C), the temporary file is removed and
    `out` is left as it was; an OSError becomes an OutputError with a readable message.
    """

    def __init__(self, out: Path):
        self.out = Path(out)

    def __enter__(self) -> str:
        folder = self.out.parent if str(self.out.parent) else Path(".")
        if not folder.is_dir():
            raise OutputError(f"{self.out}: folder {folder} does not exist")
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=f".{self.out.name}.", suffix=".part", dir=folder)
        except OSError as e:
            raise OutputError(write_problem(self.out, e)) from None
        os.close(fd)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                mode = self.out.stat().st_mode & 0o777 if self.out.exists() else _default_mode()
                os.chmod(self.tmp, mode)
                os.replace(self.tmp, self.out)
                return False
            except OSError as e:
                Path(self.tmp).unlink(missing_ok=True)
                raise OutputError(write_problem(self.out, e)) from None
        Path(self.tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(write_problem(self.out, exc)) from None
        return False
