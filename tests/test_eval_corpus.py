"""Evaluation on real-format data: the text metrics on hand-checkable cases, `eval ... --data` on tiny
datasets written in the real formats (tests/corpora.py) with the bundled models, and grounding on
COCO-style instance annotations and word boxes whose regions are the generated shapes' own masks.

METEOR and the PTB tokenizer need Java; the tests that need it skip, saying why, where it is
absent. One scorer run with Java is shared by the metric tests (its start-up takes seconds).
"""
import json
import re

import cv2
import numpy as np
import pytest

from attnviewer.cli import main
from attnviewer.data.synthetic import generate_scene
from attnviewer.errors import DataError
from attnviewer.evaluation import metrics
from attnviewer.evaluation.grounding import GroundingTally, read_grounds, region_mask, singular
from attnviewer.evaluation.metrics import caption_metrics, java_problem, translation_metrics

from .corpora import SEED, karpathy_json, pairs_tsv, video_corpus

JAVA = java_problem()
needs_java = pytest.mark.skipif(JAVA is not None, reason=f"METEOR and the PTB tokenizer need Java: {JAVA}")

REFS = [[("a", "dog", "runs", "across", "the", "green", "park")],
        [("two", "cats", "sleep", "on", "a", "red", "sofa"), ("cats", "sleeping", "on", "a", "couch")],
        [("a", "man", "rides", "a", "bike", "down", "the", "street", ".")]]
SAME = [r[0] for r in REFS]
OTHER = [("zebra", "xylophone", "quartz"), ("purple", "mountains", "hum"), ("seven", "violins")]
TABLE = ("BLEU-1", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D")


@pytest.fixture(scope="module", autouse=True)
def one_meteor():
    """One METEOR process for the file's tests (as for one run of the program), ended after them."""
    yield
    metrics.close_meteor()


@pytest.fixture(scope="module")
def scored():
    """Both decodings scored in one call: with Java where it is present."""
    return caption_metrics(REFS, {"same": SAME, "other": OTHER})


def test_identical_captions_score_full_marks_and_unrelated_ones_nothing(scored):
    same, other = scored.scores["same"], scored.scores["other"]
    assert same["BLEU-1"] == pytest.approx(1.0) and same["BLEU-4"] == pytest.approx(1.0)
    assert same["ROUGE-L"] == pytest.approx(1.0)
    assert same["CIDEr-D"] > 1.0  # idf over three distinct images: shared n-grams weigh something
    assert other["BLEU-4"] < 1e-3 and other["BLEU-1"] < 1e-3
    assert other["ROUGE-L"] == 0.0 and other["CIDEr-D"] == 0.0
    assert list(same)[:4] == ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"]


@needs_java
def test_meteor_with_java(scored):
    assert scored.notes == []
    assert scored.scores["same"]["METEOR"] == pytest.approx(1.0, abs=1e-6)
    assert scored.scores["other"]["METEOR"] == pytest.approx(0.0, abs=1e-6)
    assert metrics._meteor.meteor_p.poll() is None  # kept for the next scoring of this run (below)


def test_without_java_meteor_is_unavailable_in_one_line_and_the_rest_is_reported(monkeypatch, scored):
    monkeypatch.setattr(metrics.shutil, "which", lambda name: None)
    done = caption_metrics(REFS, {"same": SAME, "other": OTHER})
    assert len(done.notes) == 1 and "METEOR: unavailable (no Java on PATH)" in done.notes[0]
    assert "METEOR" not in done.scores["same"]
    for metric in ("BLEU-4", "ROUGE-L", "CIDEr-D"):  # the punctuation is dropped either way
        assert done.scores["same"][metric] == pytest.approx(scored.scores["same"][metric])
        assert done.scores["other"][metric] == pytest.approx(scored.scores["other"][metric])


def test_a_single_image_scores_cider_zero_as_documented():
    done = caption_metrics(REFS[:1], {"same": SAME[:1]}, java=False)
    assert done.scores["same"]["BLEU-4"] == pytest.approx(1.0) and done.scores["same"]["CIDEr-D"] == 0.0


def test_translation_bleu_and_chrf_through_sacrebleu():
    refs = [["the old man walks home"], ["a small red boat ."]]
    assert translation_metrics(refs, ["the old man walks home", "a small red boat ."]) == {
        "BLEU": pytest.approx(100.0), "chrF": pytest.approx(100.0)}
    none = translation_metrics(refs, ["xyz qqq", "vvv jjj"])
    assert none["BLEU"] == pytest.approx(0.0) and none["chrF"] == pytest.approx(0.0)
    close = translation_metrics(refs, ["the old man walked home", "a small red boat ."])
    assert 30 < close["BLEU"] < 100 and close["chrF"] > close["BLEU"]  # chrF credits "walk"
    # several references per sentence, not all sentences with as many
    two = translation_metrics([["a b c d", "w x y z"], ["e f g h"]], ["w x y z", "e f g h"])
    assert two["BLEU"] == pytest.approx(100.0)


# -- eval caption --data ---------------------------------------------------------------------------


def coco_dataset(tmp_path, n_images=8):
    """A Karpathy JSON whose test images are the even scenes (drawn at the model's 160 pixels), the
    last one listed but missing and the first test image's file corrupt."""
    path, root = karpathy_json(tmp_path, n_images=n_images, splits=("test", "train"), size=160, missing=2)
    broken = root / "val2014" / "COCO_val2014_000000000000.jpg"
    broken.write_bytes(broken.read_bytes()[:300])  # truncated JPEG
    return path, root


def coco_instances(tmp_path, indices, size=160):
    """instances_*.json for these scenes: one category per shape word, each object's bbox and
    polygon from its mask (as COCO's annotators drew them)."""
    categories = [{"id": k + 1, "name": s, "supercategory": "shape"}
                  for k, s in enumerate(("circle", "square", "triangle", "star"))]
    ids = {c["name"]: c["id"] for c in categories}
    images, annotations = [], []
    for i in indices:
        scene = generate_scene(SEED, i, size=size)
        images.append({"id": 100 + i, "file_name": f"COCO_val2014_{i:012d}.jpg", "width": size, "height": size})
        for obj in scene.objects:
            contours, _ = cv2.findContours(obj.mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            ys, xs = np.nonzero(obj.mask)
            annotations.append({
                "id": len(annotations) + 1, "image_id": 100 + i, "category_id": ids[obj.shape], "iscrowd": 0,
                "bbox": [float(xs.min()), float(ys.min()), float(np.ptp(xs) + 1), float(np.ptp(ys) + 1)],
                "segmentation": [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3],
                "area": float(obj.mask.sum())})
    path = tmp_path / "instances_val2014.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


@needs_java
def test_eval_caption_on_a_karpathy_split_reports_every_metric_for_greedy_and_beam(tmp_path, capsys,
                                                                                  bundled_model_path):
    path, root = coco_dataset(tmp_path)
    out = tmp_path / "report.json"
    assert main(["eval", "caption", "--data", str(path), "--images", str(root), "--model", "caption-shapes",
                 "--beam", "2", "--json", str(out), "--device", "cpu"]) == 0
    process = metrics._meteor.meteor_p
    metrics.close_meteor()  # (the program's end would)
    assert process.returncode is not None and process.stdin.closed
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    header = next(line for line in lines if line.startswith("model, decoding"))
    assert header.split()[2:] == ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D"]
    greedy = next(line for line in lines if line.startswith("caption-shapes  greedy")).split()
    beam = next(line for line in lines if line.startswith("caption-shapes  beam 2")).split()
    assert len(greedy) == 9 and len(beam) == 10 and "-" not in greedy + beam
    # the missing image (the reader's count) and the corrupt one (ours): one line each, not fatal
    err = captured.err.splitlines()
    assert any("2 missing images" in e and "COCO_val2014_000000000006.jpg" in e for e in err)
    assert any("left out: 1 unreadable image" in e and "COCO_val2014_000000000000.jpg" in e for e in err)
    report = json.loads(out.read_text())
    row = report["models"]["caption-shapes"]
    assert report["items"] == 3 and row["scored"] == 2  # scenes 2 and 4
    for decoding in ("greedy", "beam 2"):
        scores = row["scores"][decoding]
        assert set(scores) == set(metrics.CAPTION_METRICS)
        assert scores["BLEU-4"] > 0.5 and scores["METEOR"] > 0.3 and scores["CIDEr-D"] > 1.0


def test_grounding_on_coco_instances_beats_the_baselines_and_works_without_java(tmp_path, capsys, monkeypatch,
                                                                                bundled_model_path):
    monkeypatch.setattr(metrics.shutil, "which", lambda name: None)
    path, root = karpathy_json(tmp_path, n_images=16, splits=("test", "train"), size=160)
    instances = coco_instances(tmp_path, range(0, 14, 2))  # scene 14 has no annotations
    out = tmp_path / "report.json"
    assert main(["eval", "caption", "--data", str(path), "--images", str(root), "--model", "caption-shapes",
                 "--grounding", str(instances), "--json", str(out), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "METEOR: unavailable (no Java on PATH)" in captured.err
    assert len([e for e in captured.err.splitlines() if "METEOR" in e]) == 1
    greedy = next(line for line in captured.out.splitlines() if line.startswith("caption-shapes  greedy"))
    assert greedy.split()[6] == "-"  # METEOR's column
    assert "pointing on the annotated words" in captured.out
    g = json.loads(out.read_text())["models"]["caption-shapes"]["grounding"]["greedy"]
    assert g["images"] == 7 and g["images without annotations"] == 1
    assert g["words"] >= 10  # the shape words of seven scenes
    assert set(g["by word"]) <= {"circle", "square", "triangle", "star"}
    for test in ("cell", "pixel"):
        assert g[f"pointing {test}"] >= 0.8
        assert g[f"pointing {test}"] > g[f"pointing uniform {test}"] + 0.5
        assert g[f"pointing {test}"] > g[f"pointing centre {test}"] + 0.3


def test_word_boxes_ground_colour_and_shape_words(tmp_path, bundled_model_path):
    from attnviewer.decoding.search import DecodeSettings, best_hypotheses
    from attnviewer.models import registry
    from attnviewer.evaluation.captioner import scene_pixels

    scenes = [generate_scene(SEED, i, size=160) for i in range(6)]
    boxes = {}
    for i, scene in enumerate(scenes):
        entries = boxes[f"scene-{i}.png"] = []
        for obj in scene.objects:
            ys, xs = np.nonzero(obj.mask)
            box = [int(xs.min()), int(ys.min()), int(np.ptp(xs) + 1), int(np.ptp(ys) + 1)]
            entries += [{"word": obj.colour, "box": box}, {"word": obj.shape + "s", "box": box}]  # plural too
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps(boxes))
    grounds = read_grounds(path)
    model = registry.load("caption-shapes", "cpu")
    hyps = best_hypotheses(model, scene_pixels(scenes), DecodeSettings("greedy"))
    tally = GroundingTally()
    for i, hyp in enumerate(hyps):
        tally.add(grounds, f"/anywhere/scene-{i}.png", (160, 160), hyp)
    report = tally.report()
    assert report["images"] == 6 and report["words"] >= 12  # the colour and shape words said
    assert report["pointing cell"] > report["pointing uniform cell"] + 0.5
    assert report["pointing pixel"] > report["pointing centre pixel"] + 0.3
    assert {"red", "circle"} & set(report["by word"])


def test_regions_are_rasterised_at_the_size_the_image_was_read():
    box = region_mask([("box", [10, 20, 30, 40])], (200, 100), None)
    assert box.sum() == 30 * 40 and box[20, 10] and not box[19, 10] and not box[20, 40]
    half = region_mask([("box", [10, 20, 30, 40])], (100, 50), (200, 100))  # read at half size
    assert half.sum() == 15 * 20
    poly = region_mask([("polygons", [np.array([[0, 0], [9, 0], [9, 9], [0, 9]], float)])], (20, 20), None)
    assert poly.sum() == 100
    # COCO crowd run lengths go down the columns: 2 rows off, 3 on, in a 5 x 2 image
    rle = region_mask([("rle", [2, 3, 2, 3])], (5, 2), (5, 2))
    assert rle[:, 0].tolist() == [False, False, True, True, True] and rle[:, 1].tolist() == rle[:, 0].tolist()
    assert [singular(w) for w in ("dogs", "men", "people", "bus", "glass", "buses")] == \
           ["dog", "man", "people", "bus", "glass", "bus"]


def test_coco_synonyms_and_two_word_categories(tmp_path):
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
            "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]}],
            "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "dining table"},
                           {"id": 3, "name": "hot dog"}, {"id": 4, "name": "dog"}, {"id": 5, "name": "bicycle"}]}
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    grounds = read_grounds(path)
    assert [grounds.concept(w) for w in ("women", "Boy", "table", "dogs", "bikes", "street")] == \
           ["person", "person", "dining table", "dog", "bicycle", None]


@pytest.mark.parametrize("content, message", [
    ("{not json", "not a JSON file"),
    ("[1, 2]", "neither COCO instance annotations"),
    ('{"a.jpg": [{"word": "dog"}]}', 'is not {"word": ..., "box": [x, y, w, h]}'),
    ('{"a.jpg": [{"word": "dog", "box": [0, 0, -3, 4]}]}', "positive size"),
    ('{"images": [], "annotations": [{"image_id": 9}], "categories": []}', "bad entry"),
])
def test_a_bad_grounding_file_is_one_line(tmp_path, content, message):
    path = tmp_path / "g.json"
    path.write_text(content)
    with pytest.raises(DataError, match=re.escape(message)):
        read_grounds(path)


def test_eval_with_a_bad_grounding_file_or_an_absent_split_exits_2_in_one_line(tmp_path, capsys):
    path, root = karpathy_json(tmp_path, n_images=4, splits=("train",), size=64)
    assert main(["eval", "caption", "--data", str(path), "--images", str(root), "--model", "caption-shapes"]) == 2
    err = capsys.readouterr().err
    assert "no test split to evaluate; it has train (4)" in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "g.json"
    bad.write_text("[]")
    assert main(["eval", "caption", "--data", str(path), "--images", str(root), "--model", "caption-shapes",
                 "--split", "train", "--grounding", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "neither COCO instance annotations" in err and len(err.strip().splitlines()) == 1


# -- eval translate / video --data -----------------------------------------------------------------


def test_eval_translate_on_a_tsv_reports_bleu_and_chrf(tmp_path, capsys):
    path = pairs_tsv(tmp_path, 40)
    out = tmp_path / "t.json"
    assert main(["eval", "translate", "--data", str(path), "--model", "translate-sov", "--split", "all",
                 "--n", "16", "--beam", "2", "--json", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "16 items (all splits)" in printed
    header = next(line for line in printed.splitlines() if line.startswith("model, decoding"))
    assert header.split()[2:] == ["BLEU", "chrF", "BLEU", "(corpus", "tokens)"]
    report = json.loads(out.read_text())["models"]["translate-sov"]
    for decoding in ("greedy", "beam 2"):
        scores = report["scores"][decoding]
        # the references end in a full stop the generated language never writes: high, not 100
        assert 60 < scores["BLEU"] < 100 and 85 < scores["chrF"] < 100


def test_eval_video_on_msvd_captions(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(metrics.shutil, "which", lambda name: None)  # Java is covered above
    path, root = video_corpus(tmp_path, "msvd", n_clips=3, missing=1)
    assert main(["eval", "video", "--data", str(path), "--clips", str(root), "--model", "video-shapes",
                 "--split", "all", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    row = next(line for line in captured.out.splitlines() if line.startswith("video-shapes  greedy")).split()
    bleu1, cider = float(row[2]), float(row[8])
    assert bleu1 > 0.5 and cider >= 0.0  # the clips are the model's own domain (captions reworded)
    assert "1 missing clip" in captured.err
