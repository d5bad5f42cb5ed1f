"""Generated scenes: reproducible, with masks and captions that agree with the pixels."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from attnviewer.data.synthetic import COLOURS, SHAPES, Scene, generate_scene, generate_scenes

SEED = 7
N_SCENES = 12


@pytest.fixture(scope="module")
def scenes() -> list[Scene]:
    return generate_scenes(N_SCENES, seed=SEED)


def same_scene(a: Scene, b: Scene) -> bool:
    return (
        np.array_equal(a.image, b.image)
        and a.caption == b.caption
        and len(a.objects) == len(b.objects)
        and all(np.array_equal(x.mask, y.mask) and x.centre == y.centre for x, y in zip(a.objects, b.objects))
    )


def test_same_seed_and_index_give_the_same_scene():
    for i in (0, 3):
        assert same_scene(generate_scene(SEED, i), generate_scene(SEED, i))


def test_different_seeds_or_indices_give_different_scenes():
    a = generate_scenes(4, seed=1)
    b = generate_scenes(4, seed=2)
    for x, y in zip(a, b):
        assert not np.array_equal(x.image, y.image)
    assert len({s.caption for s in a + b}) > 2
    assert not np.array_equal(a[0].image, a[1].image)
    # neighbouring seeds (say a training and a validation set) share no scene at any index
    images = [s.image.tobytes() for s in a + b]
    assert len(set(images)) == len(images)


def test_scene_i_does_not_depend_on_how_many_are_generated(scenes):
    later = generate_scenes(3, seed=SEED, start=4)
    for k, scene in enumerate(later):
        assert same_scene(scene, scenes[4 + k])
        assert same_scene(scene, generate_scene(SEED, 4 + k))
    assert same_scene(generate_scenes(1, seed=SEED)[0], scenes[0])


def test_image_format(scenes):
    for s in scenes:
        assert s.image.shape == (160, 160, 3) and s.image.dtype == np.uint8
    small = generate_scene(SEED, 0, size=96)
    assert small.image.shape == (96, 96, 3)
    assert all(o.mask.shape == (96, 96) for o in small.objects)


def test_masks_are_boolean_nonempty_and_disjoint(scenes):
    for s in scenes:
        assert 1 <= len(s.objects) <= 3
        total = np.zeros(s.image.shape[:2], dtype=int)
        for o in s.objects:
            assert o.mask.dtype == bool
            assert o.mask.shape == s.image.shape[:2]
            assert o.mask.sum() > 50
            total += o.mask
            # the mask lies around the object's centre, within its radius
            ys, xs = np.nonzero(o.mask)
            cx, cy = o.centre
            assert np.hypot(xs - cx, ys - cy).max() <= o.radius + 2
            assert o.mask[int(round(cy)), int(round(cx))]
        assert total.max() <= 1  # no pixel belongs to two objects


def test_mask_pixels_have_the_objects_colour(scenes):
    anchors = {name: np.array(rgb, dtype=float) for name, rgb in COLOURS.items()}
    for s in scenes:
        for o in s.objects:
            inner = cv2.erode(o.mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            assert inner.any()
            mean = s.image[inner].reshape(-1, 3).astype(float).mean(axis=0)
            # each object is a jittered copy (sd 12 per channel) of its colour's anchor
            assert np.abs(mean - anchors[o.colour]).max() < 45
            nearest = min(anchors, key=lambda name: np.linalg.norm(mean - anchors[name]))
            assert nearest == o.colour
            # and the colour is flat inside the object
            assert s.image[inner].astype(float).std(axis=0).max() < 10


def test_captions_name_the_objects_left_to_right(scenes):
    counts = set()
    for s in scenes:
        words = s.caption.split()
        colours = [w for w in words if w in COLOURS]
        shapes = [w for w in words if w in SHAPES]
        assert colours == [o.colour for o in s.objects]
        assert shapes == [o.shape for o in s.objects]
        assert len(set(colours)) == len(colours)  # colours are unique in a scene
        xs = [o.centre[0] for o in s.objects]
        assert xs == sorted(xs)
        # the masks themselves go left to right in caption order
        mask_xs = [np.nonzero(o.mask)[1].mean() for o in s.objects]
        assert mask_xs == sorted(mask_xs)
        # "<article> <colour> <shape>" phrases, joined by commas and a final "and"
        head, _, last = s.caption.rpartition(" and ")
        phrases = (head.split(" , ") if head else []) + [last]
        assert len(phrases) == len(s.objects)
        for phrase, o in zip(phrases, s.objects):
            article = "an" if o.colour[0] in "aeiou" else "a"
            assert phrase == f"{article} {o.colour} {o.shape}"
        counts.add(len(s.objects))
    assert counts == {1, 2, 3}  # the fixture exercises every kind of caption


def test_targets_map_colour_and_shape_words_to_their_objects(scenes):
    for s in scenes:
        tokens = s.caption.split()
        targets = s.targets(tokens)
        assert len(targets) == len(tokens)
        named = iter(range(len(s.objects)))
        for i, (tok, target) in enumerate(zip(tokens, targets)):
            if tok in COLOURS:
                expected = next(named)  # colours come in object order
                assert target == expected
                assert s.objects[target].colour == tok
            elif tok in SHAPES:
                assert target == targets[i - 1]  # the shape of the object its colour named
                assert s.objects[target].shape == tok
            else:
                assert target is None, tok


def test_targets_of_other_captions():
    scene = next(s for s in generate_scenes(40, seed=SEED) if len(s.objects) == 3)
    first, second, third = scene.objects
    absent = next(c for c in COLOURS if c not in {o.colour for o in scene.objects})
    tokens = ["the", absent, first.colour, second.shape, "and", "dog"]
    targets = scene.targets(tokens)
    assert targets[0] is None and targets[1] is None and targets[4] is None and targets[5] is None
    assert targets[2] == 0
    # a shape after a colour of another shape names the only object of that shape, if unique
    same = [k for k, o in enumerate(scene.objects) if o.shape == second.shape]
    if first.shape == second.shape:
        assert targets[3] == 0
    else:
        assert targets[3] == (same[0] if len(same) == 1 else None)
    # a shape word alone
    assert scene.targets([third.shape])[0] == (
        2 if [o.shape for o in scene.objects].count(third.shape) == 1 else None
    )
    assert scene.targets([]) == []


def test_targets_with_duplicate_shapes():
    # two objects of the same shape: the shape word alone is ambiguous, after a colour it is not
    scene = next(
        s for s in generate_scenes(200, seed=SEED, size=64)
        if len(s.objects) >= 2 and len({o.shape for o in s.objects}) < len(s.objects)
    )
    shapes = [o.shape for o in scene.objects]
    dup = next(sh for sh in shapes if shapes.count(sh) > 1)
    idx = [k for k, o in enumerate(scene.objects) if o.shape == dup]
    assert scene.targets([dup]) == [None]
    for k in idx:
        assert scene.targets([scene.objects[k].colour, dup]) == [k, k]
