#!/usr/bin/env python3
"""Render the app icon's SVG into the hicolor PNG sizes.

Usage (from the repository root, inside the project's virtualenv):

    python packaging/render_icons.py            # regenerate the committed PNGs
    python packaging/render_icons.py OUT_DIR    # render into OUT_DIR/<N>x<N>/apps/ instead

Writes packaging/icons/hicolor/<N>x<N>/apps/io.github.attnviewer.AttnViewer.png for every N in
SIZES. Needs only PySide6 (QtSvg); runs without a display (offscreen Qt platform).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_ID = "io.github.attnviewer.AttnViewer"
SIZES = (16, 32, 48, 64, 128, 256)
HERE = Path(__file__).resolve().parent
SVG = HERE / "icons" / f"{APP_ID}.svg"
HICOLOR = HERE / "icons" / "hicolor"


def png_path(size: int, root: Path = HICOLOR) -> Path:
    return root / f"{size}x{size}" / "apps" / f"{APP_ID}.png"


def render(svg: Path = SVG, root: Path = HICOLOR, sizes=SIZES) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])  # noqa: F841 (keeps Qt up)
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    written = []
    for size in sizes:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderer.render(painter)
        painter.end()
        out = png_path(size, root)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not image.convertToFormat(QImage.Format.Format_ARGB32).save(str(out), "PNG"):
            raise SystemExit(f"{out}: could not write")
        written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    root = Path(argv[0]) if argv else HICOLOR
    for path in render(root=root):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
