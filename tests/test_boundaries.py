"""The layout's rules, stated as import-linter contracts in pyproject.toml (layers; Qt only in
ui/, engine/ and app.py but never in the engine's process; the window never imports torch, the models or the decoders; the eval and
train commands parse and print), checked here so that a change that breaks a layer fails CI; and
at run time, the window's modules import without pulling torch in (the window must appear before
any model loads)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    lint = Path(sys.executable).parent / "lint-imports"
    out = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout and "8 kept" in out.stdout


def test_a_broken_layer_is_caught(tmp_path):
    """The contracts can fail: a copy of the package whose window imports a model is refused."""
    import shutil

    copy = tmp_path / "attnviewer"
    shutil.copytree(ROOT / "attnviewer", copy, ignore=shutil.ignore_patterns("__pycache__", "resources"))
    with open(copy / "ui" / "overlay.py", "a") as f:
        f.write("\nfrom ..models import captioner  # noqa\n")
    lint = Path(sys.executable).parent / "lint-imports"
    env = {"PATH": "", "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert out.returncode != 0 and "attnviewer.ui.overlay -> attnviewer.models.captioner" in out.stdout


def test_a_train_command_reaching_a_trainer_past_its_entry_is_caught(tmp_path):
    """The train commands and folder captioning reach training/ only through training/commands.py:
    a copy whose folder captioning imports the loop, and one whose train command reaches a trainer
    through another command module, are refused, each naming the import."""
    import shutil

    lint = Path(sys.executable).parent / "lint-imports"
    env = {"PATH": "", "PYTHONPATH": str(tmp_path)}
    for module, line, chain in [
        ("folder.py", "from ..training import loop", "attnviewer.cli.folder -> attnviewer.training.loop"),
        ("train_corpus.py", "from . import evaluate_faithfulness",
         "attnviewer.cli.train_corpus -> attnviewer.cli.evaluate_faithfulness"),
    ]:
        copy = tmp_path / "attnviewer"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(ROOT / "attnviewer", copy, ignore=shutil.ignore_patterns("__pycache__", "resources"))
        with open(copy / "cli" / module, "a") as f:
            f.write(f"\n{line}  # noqa\n")
        out = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                             capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
        assert out.returncode != 0 and "1 broken" in out.stdout and chain in out.stdout, out.stdout[-3000:]


def test_window_modules_do_not_import_torch():
    code = ("import sys; import attnviewer.ui.main_window, attnviewer.app; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT), "PATH": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
