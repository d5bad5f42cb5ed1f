"""attnviewer: see where a neural network looks while it writes."""

__version__ = "0.1.0"
