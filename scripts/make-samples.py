"""Writes the bundled sample images (resources/samples/shapes-N.png) from generated scenes, and
the sample video (clip-1.mp4) from a generated clip.

    python scripts/make-samples.py [OUTDIR]

The samples are fixed scenes of the generator (seed 2026), none of them in the training set
(seed 0): a scene of three objects, one of two and one of one, each object a different colour.
The clip is the first of that seed with two events, one a movement, shown 4x larger at 12 fps.
"""
from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from attnviewer.data.clip_events import generate_clip  # noqa: E402
from attnviewer.data.synthetic import generate_scene  # noqa: E402
from attnviewer.media.frames import write_clip  # noqa: E402

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
    index = next(i for i in range(1000) if len((c := generate_clip(SEED, i)).events) == 2
                 and any(e.verb.startswith("moves") for e in c.events))
    write_clip(c.frames, out / "clip-1.mp4", fps=12, scale=4)
    print(f"{out / 'clip-1.mp4'}: clip {index} of seed {SEED}: {c.caption}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
