"""The beam tree (issue 22): every candidate a real beam search weighed, recorded through the
search's hook; its finished leaves are the beam's finished hypotheses; --beam-tree draws it."""
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from attnviewer import pipeline
from attnviewer.cli import main
from attnviewer.kinds import IMAGE, TEXT, VIDEO
from attnviewer.settings import DecodeSettings
from attnviewer.whatif.tree import CUT, FINISHED, KEPT, BeamTree

CASES = [(IMAGE, "caption-shapes", ["resources/samples/shapes-1.png", "resources/samples/shapes-2.png"]),
         (IMAGE, "caption-shapes-vit", ["resources/samples/shapes-3.png"]),
         (VIDEO, "video-shapes", ["resources/samples/clip-1.mp4"]),
         (TEXT, "translate-sov", ["the red cat sees a dog", "a dog sees the big cat"])]


def recorded(kind, name, sources, settings):
    if name.endswith("vit"):
        pytest.importorskip("transformers")
    model = pipeline.load_model(kind, name, "cpu")
    medias = [pipeline.read(kind, s, name) for s in sources]
    tree = BeamTree(model.vocab, settings.length_penalty if settings.length_penalty is not None else 1.0)
    return pipeline.run_all(kind, model, medias, settings, tree=tree), tree


@pytest.mark.parametrize("shrink", [False, True])
@pytest.mark.parametrize("kind,name,sources", CASES)
def test_finished_leaves_are_the_beams_finished_hypotheses(kind, name, sources, shrink):
    settings = DecodeSettings("beam", beam=4, shrink_beam=shrink, length_penalty=1.0)
    results, tree = recorded(kind, name, sources, settings)
    for item, result in enumerate(results):
        done = tree.finished(item)
        leaves = {n.id for n in tree.leaves(item)}
        assert done and all(n.id in leaves for n in done)  # nothing grows after its end
        got = [(tree.words(n), n.final) for n in done[:len(result.hypotheses)]]
        want = [(h.tokens, h.score) for h in result.hypotheses]
        assert [w for w, _ in got] == [w for w, _ in want]
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-4)
        assert [n.state == CUT for n in done[:len(want)]] == [not h.ended for h in result.hypotheses]


def test_every_node_continues_a_kept_hypothesis():
    results, tree = recorded(*CASES[0], DecodeSettings("beam", beam=3, length_penalty=1.0))
    for n in tree.nodes:
        if n.parent >= 0:
            parent = tree.nodes[n.parent]
            assert parent.state == KEPT and parent.step == n.step - 1 and parent.item == n.item
    assert sum(n.state == FINISHED for n in tree.of(0)) >= 1
    assert sum(n.state == "pruned" for n in tree.of(0)) > 0


def test_cli_draws_the_tree(tmp_path, capsys):
    out = tmp_path / "tree.svg"
    assert main(["caption", "resources/samples/shapes-1.png", "--beam", "3", "--beam-tree", str(out)]) == 0
    caption = capsys.readouterr().out.splitlines()[0].split(": ", 1)[1].split()
    root = ET.parse(out).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    nodes = root.findall(f"{ns}g")
    kinds = [g.get("class").split()[1] for g in nodes]
    assert kinds.count("finished") + kinds.count("cut") >= 3 and kinds.count("pruned") > 0
    words = [g.find(f"{ns}text").text.split()[0] for g in nodes if g.get("class") != "node start"]
    assert set(caption) <= set(words)
    thick = [p for p in root.findall(f"{ns}path") if p.get("stroke-width") == "2.5"]
    assert len(thick) == len(caption) + 1  # the best path, with its end
    grey = {g.find(f"{ns}rect").get("stroke") for g in nodes if "pruned" in g.get("class")}
    assert grey == {"#bbbbbb"}


def test_tree_needs_a_beam_search(capsys):
    assert main(["caption", "resources/samples/shapes-1.png", "--greedy", "--beam-tree", "x.svg"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "add --beam K" in err


@pytest.mark.parametrize("forced", [[], ["--force", "2=red"]])
def test_cli_draws_each_images_own_tree(tmp_path, capsys, forced):
    """Several images (forced or not): each tree file holds that image's search and its best path."""
    out = tmp_path / "tree.svg"
    images = ["resources/samples/shapes-1.png", "resources/samples/shapes-2.png"]
    assert main(["caption", *images, "--beam", "3", "--beam-tree", str(out), *forced]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("resources/")]
    ns = "{http://www.w3.org/2000/svg}"
    for image, line in zip(images, lines):
        caption = line.split(": ", 1)[1].split()
        root = ET.parse(tmp_path / f"tree-{image.rsplit('/', 1)[1][:-4]}.svg").getroot()
        thick = [p for p in root.findall(f"{ns}path") if p.get("stroke-width") == "2.5"]
        assert len(thick) == len(caption) + 1
        if forced:
            assert caption[1] == "red"
            second = {g.find(f"{ns}text").text.split()[0] for g in root.findall(f"{ns}g")
                      if g.get("data-step") == "2" and "pruned" not in g.get("class")}
            assert second == {"red"}
