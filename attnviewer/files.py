"""Writing files safely: to a temporary name beside the target, renamed into place on success,
so an interrupted write (an error, a full disk, Ctrl-C) never leaves a broken file."""
from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from pathlib import Path

from .errors import AttnViewerError, OutputError, printable

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def file_stamp(path) -> tuple[int, int, int, int] | None:
    """Which file a path names now: (device, inode, size, modification time); None when it cannot
    be stat-ed (gone, or not a path: a sentence). Equal stamps: the very file, unchanged."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def special_kind(path) -> str | None:
    """What a path names when it is not a regular file ("a FIFO", "a folder", "a character
    device", ...; a link followed), None for a regular file. OSError when it cannot be stat-ed.
    Reading a FIFO or a device blocks or never ends: every reader of a user's file asks first."""
    return _kind(os.stat(path).st_mode)


def _kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a file")


def regular_file(path, error: type[AttnViewerError], what: str = "") -> os.stat_result:
    """The stat of a regular file (a link followed), else `error` with one line naming the path
    and what it is instead (a FIFO, a folder, ...), or why it cannot be read."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise error(f"{printable(path)}: cannot read {what or 'it'} ({e.strerror or type(e).__name__})") from None
    except ValueError:  # a NUL in the name
        raise error(f"{printable(path)}: not a usable file name") from None
    kind = _kind(st.st_mode)  # (from the one stat: the path is not looked at twice)
    if kind:
        raise error(f"{printable(path)}: {what + ' ' if what else ''}is {kind}, not a regular file")
    return st


def open_regular(path):
    """A binary reader of the file, opened without waiting (a FIFO put in its place since it was
    checked would block an ordinary open) and refused (OSError) unless it is a regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file (replaced while being read)", str(path))
    return os.fdopen(fd, "rb")


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


def replacement_mode(out: Path) -> int:
    """The permissions a file written onto `out` gets: those of the file it replaces, else the
    umask's. A symlink's target is not looked at: the link is replaced, never followed."""
    try:
        if not out.is_symlink() and out.exists():
            return out.stat().st_mode & 0o777
    except OSError:
        pass
    return _default_mode()


def put_in_place(tmp, out: Path) -> None:
    """Rename a finished temporary onto `out`, with the permissions of the file it replaces (else
    the umask's). A symlink at `out` is replaced itself, never written through. OSError as raised."""
    os.chmod(tmp, replacement_mode(out))
    os.replace(tmp, out)


def temporary_beside(out: Path, suffix: str = ".part") -> str:
    """A new empty file `.NAME.XXXXXXXX<suffix>` in `out`'s folder (same file system: the rename
    onto `out` is atomic); OutputError with one line naming `out` if it cannot be made."""
    folder = out.parent if str(out.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=suffix, dir=folder)
    except OSError as e:
        raise OutputError(write_problem(out, e)) from None
    os.close(fd)
    return tmp


# the temporary names of temporary_beside (.NAME.XXXXXXXX.part) and of an output set
# (.NAME.XXXXXXXX.part.SUFFIX, a writer's own temporary inside it included)
TEMP_NAME = re.compile(r"^\.(?P<name>.+?)\.[A-Za-z0-9_]{8}\.part(\.[A-Za-z0-9]{1,5})?$")


def temporary_target(name: str) -> str:
    """The output a temporary of ours is for (a writer's temporary inside a set's is unwrapped)."""
    m = TEMP_NAME.match(name)
    while m:
        name = m.group("name")
        m = TEMP_NAME.match(name)
    return name


def remove_temporaries(folder: Path, wanted) -> int:
    """Remove our temporaries from `folder` where wanted(name, target) says so (name: what the
    temporary's own name wraps; target: the output it is for); how many were removed."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for e in entries:
        m = TEMP_NAME.match(e.name)
        if not m or not wanted(m.group("name"), temporary_target(e.name)):
            continue
        try:
            if e.is_file(follow_symlinks=False):
                os.unlink(e.path)
                removed += 1
        except OSError:
            pass
    return removed


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
        self.tmp = temporary_beside(self.out)
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                put_in_place(self.tmp, self.out)
                return False
            except OSError as e:
                Path(self.tmp).unlink(missing_ok=True)
                raise OutputError(write_problem(self.out, e)) from None
        Path(self.tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(write_problem(self.out, exc)) from None
        return False
