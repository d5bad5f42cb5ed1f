"""Start the desktop app. torch is not imported here: the engine imports it on its own thread
after the window is on screen."""
from __future__ import annotations

import sys


def make_application(argv: list[str] | None = None):
    """The QApplication with the app's names and the process settings the window relies on."""
    from PySide6.QtWidgets import QApplication

    # Hand the GIL over more often than every 5 ms: the window stays smooth while the engine
    # thread computes (throughput of the model barely changes).
    sys.setswitchinterval(0.002)
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("attnviewer")
    app.setOrganizationName("attnviewer")
    app.setDesktopFileName("io.github.attnviewer.AttnViewer")
    return app


def run(path: str | None = None, argv: list[str] | None = None) -> int:
    app = make_application(argv)
    from .ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    if path is None:
        from .resources import sample_dir

        samples = sorted(sample_dir().glob("*.png"))
        path = str(samples[0]) if samples else None
    if path:
        window.open_image(path)
    return app.exec()
