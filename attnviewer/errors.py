"""One exception type per kind of user-facing failure, each carrying a message a user can read.

The CLI prints the message on one line and exits non-zero; the app shows it in the window.
"""
import os


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (its type's name if it has none), for one-line errors."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def name_bytes(name: str) -> bytes:
    """The bytes of a name that is not valid UTF-8 (a path on Linux may be): os.fsdecode's stand-ins
    for them (U+DC80..U+DCFF) as the bytes they stand for. A name holding other lone surrogates (a
    JSON "\\ud800") has every surrogate in UTF-8's form instead (surrogatepass), never an error."""
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogatepass")


def shown_name(name: str | bytes) -> str:
    """A name (its text, or its bytes) as text any UTF-8 file or terminal takes: the bytes that are
    not UTF-8 as \\xNN, the rest as it is."""
    return (name if isinstance(name, bytes) else name_bytes(name)).decode("utf-8", "backslashreplace")


def printable(text) -> str:
    """Text safe for a terminal: the bytes of a name that is not valid UTF-8 as \\xNN, control
    characters (ESC and the like) and other unprintable ones repr-style (\\x1b), never raw."""
    text = os.fspath(text) if isinstance(text, os.PathLike) else str(text)
    if any("\ud800" <= c <= "\udfff" for c in text):  # os.fsdecode's stand-ins for undecodable bytes
        text = shown_name(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def broken_package(e: ImportError) -> str | None:
    """The installed package an import failed in (missing, broken, or of a version without what
    is asked of it), or None where the app's own code is at fault (a bug)."""
    name = e.name
    if name is None:  # raised inside a package's own import: the module that raised it
        tb = e.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        name = tb.tb_frame.f_globals.get("__name__") if tb is not None else None
    package = (name or "").split(".")[0]
    return package if package and package not in ("attnviewer", "__main__") else None


def broken_install(package: str, e: BaseException) -> str:
    """What to say when an installed package cannot be imported: a broken installation, not a bug."""
    return (f"{package} cannot be imported here ({printable(first_line(e))}); "
            "install it again into the environment attnviewer runs in")


def warning_line(message, category: type | None = None) -> str:
    """A Python warning (torch, numpy, matplotlib, Pillow, ...) as one printable line for the
    user: its first line, escaped, without torch's "(Triggered internally at ...)" tail, cut
    at 300 characters."""
    text = first_line(message) if isinstance(message, BaseException) else (str(message).strip().splitlines() or [""])[0]
    text = text.split(" (Triggered internally at ")[0].strip() or (category.__name__ if category else "warning")
    text = printable(text)
    return text if len(text) <= 300 else text[:297] + "..."


class AttnViewerError(Exception):
    """Base class: str(error) is the whole message for the user."""


class MediaError(AttnViewerError):
    """An input file that cannot be read as the media it should be."""


class CheckpointError(AttnViewerError):
    """A model file that cannot be loaded: unknown name, wrong shapes, unsafe format."""


class SettingsError(AttnViewerError):
    """Decoding or device settings that make no sense (beam width 0, CUDA without a GPU)."""


class OutputError(AttnViewerError):
    """An output file or folder that cannot be written."""


class DisplayError(AttnViewerError):
    """No screen to open the window on, or a system library Qt needs is missing."""


class DataError(AttnViewerError):
    """A dataset that cannot be read: not JSON/CSV/TSV, too large, or nothing usable to train on."""


class TrainingStateError(SettingsError):
    """A training state (--resume) that is damaged or tampered with: one line saying so and what to do."""
