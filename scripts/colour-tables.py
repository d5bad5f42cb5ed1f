"""Write the perceptual colour maps the window draws with (resources/colormaps/NAME.csv: 256 rows
of r,g,b in 0..1) from matplotlib's own tables, the ones its exported figures use: the window
reads them as data, without importing matplotlib (0.1-0.4 s on the GUI thread).
viridis and inferno are by Stéfan van der Walt, Nathaniel Smith and Eric Firing (CC0).

    python scripts/colour-tables.py
"""
from pathlib import Path

import matplotlib
import numpy as np

NAMES = ("viridis", "inferno")
FOLDER = Path(__file__).resolve().parents[1] / "resources" / "colormaps"


def main() -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        table = np.asarray(matplotlib.colormaps[name].colors, dtype=np.float64)
        path = FOLDER / f"{name}.csv"
        np.savetxt(path, table, fmt="%.8f", delimiter=",",
                   header=f"{name}: matplotlib's table, 256 rows of r,g,b in 0..1 (CC0); scripts/colour-tables.py")
        print(f"{path}: {len(table)} colours")


if __name__ == "__main__":
    main()
