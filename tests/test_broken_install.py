"""A package the app needs that cannot be imported (missing, broken, of another version): one line
that says to install it again, from the command line and from the window's engine
(test_engine_process.py), where it said "internal error ... a bug: please report it"; an import
that fails in the app's own code stays a bug."""
import os
import subprocess
import sys

import pytest

from attnviewer.errors import broken_package
from attnviewer.resources import sample_dir

from .helpers import damaged_package


@pytest.mark.parametrize("command", [["caption", str(sample_dir() / "shapes-1.png")],
                                     ["video", str(sample_dir() / "clip-1.mp4")]])
def test_a_command_with_a_broken_torch_says_to_install_it_again(tmp_path, command):
    damaged = damaged_package(tmp_path, "torch", "libtorch_cpu.so: cannot open shared object file: No such file or directory")
    env = {**os.environ, "PYTHONPATH": damaged}
    out = subprocess.run([sys.executable, "-m", "attnviewer", *command], capture_output=True, text=True,
                         timeout=120, env=env, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1
    assert out.stderr.startswith("attnviewer: error: torch cannot be imported here (libtorch_cpu.so: cannot open")
    assert "install it again" in out.stderr and "bug" not in out.stderr


def raised_in(module: str, code: str) -> ImportError:
    """The ImportError that `code` raises when run as the module `module`."""
    try:
        exec(compile(code, f"<{module}>", "exec"), {"__name__": module})
    except ImportError as e:
        return e
    raise AssertionError("no ImportError")


def test_the_package_an_import_failed_in_is_named_and_the_apps_own_code_is_not():
    assert broken_package(ModuleNotFoundError("No module named 'av'", name="av")) == "av"
    assert broken_package(raised_in("cv2.load_config_py3", "raise ImportError('libGL.so.1: cannot open')")) == "cv2"
    assert broken_package(ImportError("cannot import name 'Foo' from 'transformers'", name="transformers")) \
        == "transformers"
    # the app's own code: a bug, reported as one
    assert broken_package(ImportError("cannot import name 'x'", name="attnviewer.models.registry")) is None
    assert broken_package(raised_in("attnviewer.pipeline", "raise ImportError('something of ours')")) is None
