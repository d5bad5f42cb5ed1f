"""benchmarks/session_memory.py: the real window opens inputs one after another and says, every few
inputs, how much memory the process holds and what the garbage collector keeps frozen."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_session_memory_reports_every_few_inputs_for_each_design():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "session_memory.py"), "--inputs", "4",
                          "--every", "2", "--designs", "app,freezefull"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rows = [line.split("|")[0].strip() for line in run.stdout.splitlines() if "|" in line and line[:6].strip().isdigit()]
    assert rows == ["2", "4"], run.stdout
    for design in ("app", "freezefull"):
        line = next(x for x in run.stdout.splitlines() if x.startswith(f"{design} ("))
        assert "failures 0" in line and "unreachable among the frozen" in line, line
