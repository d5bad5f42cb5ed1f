"""One exception type per kind of user-facing failure, each carrying a message a user can read.

The CLI prints the message on one line and exits non-zero; the app shows it in the window.
"""


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (its type's name if it has none), for one-line errors."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


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
