"""One lock around the two things that must not overlap: the engine mapping torch's shared
libraries, and a video decoder starting its threads.

Why: starting a thread waits for the C library's loader lock, which a running dlopen holds for as
long as it maps (torch's libraries: hundreds of MB, 0.1 s on a quiet machine, over 0.5 s on a
loaded one). The player's decoder starts its threads when its codec opens, and PyAV opens codecs
holding the GIL, so a video opened just as the engine begins to import torch (a clip opened at
start-up: the player opens it as soon as the engine has read it) waited there with the GIL held,
and the window with it (100-350 ms gaps). Waiting on this lock instead releases the GIL.
It covers the engine's mapping of torch's libraries ahead of `import torch` (worker.py), the long
part; the rest of the import, and libraries torch loads later (CUDA's at first use), are not.
"""
from __future__ import annotations

import threading

LIBRARIES = threading.Lock()  # held while the engine maps libraries, or while a decoder starts
