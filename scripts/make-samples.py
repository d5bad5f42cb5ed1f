"""Writes the bundled sample images (resources/samples/shapes-N.png) from generated scenes.

    python scripts/make-samples.py [OUTDIR]

The samples are fixed scenes of the generator (seed 2026), none of them in the training set
(seed 0): a scene of three objects, one of two and one of one, each object a different colour.
"""
from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from attnviewer.data.synthetic import generate_scene  # noqa: E402

SEED = 2026


def pick(want_objects: int, avoid_colours: set[str]):
    """The first scene with this many objects, all of different shapes and of colours not shown yet."""
    i = 0
    while True:
        scene = generate_scene(SEED, i)
        colours, shapes = {o.colour for o in scene.objects}, {o.shape for o in scene.objects}
        if len(scene.objects) == want_objects == len(shapes) and not colours & avoid_colours:
            return i, scene
        i += 1


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "resources" / "samples")
    out.mkdir(parents=True, exist_ok=True)
    shown: set[str] = set()  # the three samples show the six colours between them
    for n, objects in enumerate((3, 2, 1), start=1):
        index, scene = pick(objects, shown)
        shown |= {o.colour for o in scene.objects}
        path = out / f"shapes-{n}.png"
        Image.fromarray(scene.image).save(path, optimize=True)
        print(f"{path}: scene {index} of seed {SEED}: {scene.caption}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
