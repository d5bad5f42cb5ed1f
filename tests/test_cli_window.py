"""`attnviewer` / `attnviewer gui`: what the command checks before Qt is loaded (one line, exit
status 2, where Qt would abort the process) and what it imports before the window's engine starts."""
import subprocess
import sys

import pytest

from attnviewer import app
from attnviewer.cli import EXIT_USER_ERROR, main


def x11_without_a_display(monkeypatch):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)


def test_no_display_is_one_line_before_qt(monkeypatch, capsys):
    x11_without_a_display(monkeypatch)
    assert main(["gui"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("attnviewer: error: no display to open the window on")
    assert "xvfb-run" in err


def test_a_missing_xcb_cursor_library_is_named_in_one_line(monkeypatch, capsys):
    """Qt >= 6.5 needs libxcb-cursor0 on X11, absent from minimal installs: Qt's own message is a
    dump of plugin names and an abort."""
    x11_without_a_display(monkeypatch)
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(app, "XCB_CURSOR", "libattnviewer-absent-test.so.0")
    assert main([]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "libxcb-cursor0" in err and "apt install" in err


def test_the_loader_check_tells_a_present_library_from_an_absent_one():
    assert app._loads("libc.so.6")
    assert not app._loads("libattnviewer-absent-test.so.0")


def test_the_window_path_imports_none_of_the_headless_commands():
    """The window's engine starts from app.run: the caption, training, export... modules (30-50 ms of
    imports) are not imported before it, only when their command runs or the whole help is shown."""
    code = (
        "import sys\n"
        "from attnviewer import app, cli\n"
        "app.run = lambda path=None, argv=None, text=None: print(\n"
        "    sorted(m for m in sys.modules if m.startswith('attnviewer.cli.')), path, text) or 0\n"
        "print(cli.main(['gui', 'x.png']))\n"
        "print(cli.main([]))\n"
        "print('attnviewer.cli.train' in sys.modules)\n"
        "cli.build_parser()\n"
        "print('attnviewer.cli.train' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["['attnviewer.cli.warning_lines'] x.png None", "0",
                                       "['attnviewer.cli.warning_lines'] None None", "0", "False", "True"]


def test_a_mistake_on_the_window_command_shows_every_command(capsys):
    """The window's path parses with the gui command alone: its mistakes are told by the whole
    parser, whose usage names every command, as before."""
    with pytest.raises(SystemExit) as stop:
        main(["gui", "--bogus"])
    assert stop.value.code == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "{gui,caption,translate,video,export,train,eval,import}" in err
    assert err.rstrip().endswith("unrecognized arguments: --bogus")
