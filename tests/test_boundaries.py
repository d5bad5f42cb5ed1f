"""The layout's rules: Qt only in ui/, engine/ and app.py; torch never in ui/; and the window's
modules import without pulling torch in (the window must appear before any model loads)."""
import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "attnviewer"
QT_ALLOWED = ("ui", "engine", "app.py")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def modules():
    return [p for p in PACKAGE.rglob("*.py")]


def test_qt_only_in_ui_and_engine():
    offenders = [str(p.relative_to(PACKAGE)) for p in modules()
                 if {"PySide6", "pyqtgraph", "superqt"} & imported_modules(p)
                 and not str(p.relative_to(PACKAGE)).startswith(QT_ALLOWED)]
    assert offenders == []


def test_no_torch_in_ui():
    offenders = [str(p.relative_to(PACKAGE)) for p in (PACKAGE / "ui").rglob("*.py") if "torch" in imported_modules(p)]
    assert offenders == []


def test_window_modules_do_not_import_torch():
    code = ("import sys; import attnviewer.ui.main_window, attnviewer.app; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(PACKAGE.parent), "PATH": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
