"""`python -m attnviewer`: the command line (no arguments: the window)."""
from .cli import main_entry

main_entry()
