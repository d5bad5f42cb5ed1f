"""`train ... --plot`: the run's curves as a figure, drawn from its CSV log (run_log.py) at the end.

Left, the training loss of every step (faint) and its running mean over about 2% of the steps;
right, each validation figure against the step, the one that selects the model drawn thicker and
its best validation marked. Drawn with matplotlib's Agg canvas directly (no pyplot: no global
state, no window).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import atomic_path
from .run_log import read_log


def plot_curves(log: str | Path, out: str | Path, select: str | None = None, best_step: int | None = None) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = read_log(log)
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    loss_ax, val_ax = fig.subplots(1, 2)
    steps = np.array([r["step"] for r in rows if r["split"] == "train" and r["name"] == "loss"])
    losses = np.array([np.nan if r["value"] is None else r["value"]
                       for r in rows if r["split"] == "train" and r["name"] == "loss"])
    if len(steps):
        k = max(1, len(steps) // 50)
        loss_ax.plot(steps, losses, color="tab:blue", alpha=0.3 if k > 1 else 1.0, linewidth=0.8, label="each step")
        if k > 1:
            smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
            loss_ax.plot(steps[k - 1 :], smooth, color="tab:blue", linewidth=1.8, label=f"mean of {k} steps")
        loss_ax.legend(loc="upper right")
    loss_ax.set(title="training loss", xlabel="step", ylabel="loss")
    names = list(dict.fromkeys(r["name"] for r in rows if r["split"] == "val"))
    twin = val_ax.twinx() if "loss" in names else None
    colours = iter(["tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:olive"] * 4)
    for name in names:
        points = [(r["step"], r["value"]) for r in rows if r["split"] == "val" and r["name"] == name
                  and r["value"] is not None]
        if not points:
            continue
        x, y = zip(*points)
        ax = twin if name == "loss" else val_ax
        chosen = name == select
        ax.plot(x, y, marker="o", markersize=3, linewidth=2.2 if chosen else 1.0,
                color="tab:gray" if name == "loss" else next(colours),
                linestyle="--" if name == "loss" else "-", label=f"{name} (selects)" if chosen else name)
        if chosen and best_step in x:
            ax.plot([best_step], [y[x.index(best_step)]], marker="*", markersize=14, color="gold",
                    markeredgecolor="black", linestyle="none", label=f"best, step {best_step}")
    val_ax.set(title="validation", xlabel="step", ylabel="figure")
    if twin is not None:
        twin.set_ylabel("validation loss")
    handles = [h for ax in (val_ax, twin) if ax is not None for h in ax.get_legend_handles_labels()[0]]
    if handles:
        val_ax.legend(handles=handles, loc="best", fontsize="small")
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return out
