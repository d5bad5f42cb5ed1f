"""Where the bundled models and samples live: inside the installed package, or the source tree."""
from __future__ import annotations

from pathlib import Path


def resource_dir() -> Path:
    here = Path(__file__).resolve().parent
    installed = here / "resources"  # a wheel places them here
    return installed if installed.is_dir() else here.parent / "resources"


def sample_dir() -> Path:
    return resource_dir() / "samples"
