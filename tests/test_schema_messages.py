"""One wording for one problem in every untrusted file (attnviewer/validation.py): a saved result and
a model header holding the same wrong value are refused in the same words, and a header's record
nested past its limit is refused by the depth scan before it is parsed, as a result is."""
import json
import struct

import numpy as np
import pytest

from attnviewer.catalog import bundled
from attnviewer.errors import CheckpointError, MediaError
from attnviewer.export.data import result_dict
from attnviewer.export.result_schema import check_data, json_data
from attnviewer.models.header import JSON_MAX_DEPTH, validate_header
from attnviewer.types import Hypothesis, Result


def result_refusal(change) -> str:
    hyp = Hypothesis(tokens=["a", "b"], token_ids=[4, 5], log_prob=-1.0, score=-1.0, probs=[0.5, 0.5],
                     alternatives=[[], []], attention=np.full((2, 3), 1 / 3, np.float32))
    doc = result_dict(Result(source="a b c", model="m", settings={"beam": 3}, hypotheses=[hyp], kind="translate",
                             source_tokens=["a", "b", "c"]))
    change(doc)
    with pytest.raises(MediaError) as e:
        check_data(json_data(json.dumps(doc), "r.json"), "r.json")
    return str(e.value)


def header_refusal(tmp_path, change) -> str:
    """The bundled captioner's file with its metadata changed, as validate_header refuses it."""
    raw = bundled()["caption-shapes"].read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    change(header["__metadata__"])
    text = json.dumps(header).encode()
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n:])
    with pytest.raises(CheckpointError) as e:
        validate_header(path)
    return str(e.value)


def config_change(**changes):
    def change(meta):
        config = {k: v for k, v in json.loads(meta["config"]).items() if k not in changes or changes[k] is not None}
        meta["config"] = json.dumps(dict(config, **{k: v for k, v in changes.items() if v is not None}))
    return change


def test_the_same_problem_is_told_in_the_same_words(tmp_path):
    assert result_refusal(lambda d: d["settings"].update(beam="5")).endswith(
        "r.json: settings.beam must be a whole number, got '5'")
    assert header_refusal(tmp_path, config_change(hidden_dim="5")).endswith(
        ": bad config: config.hidden_dim must be a whole number, got '5'")
    assert result_refusal(lambda d: d.pop("model")).endswith("r.json: model is missing")
    assert header_refusal(tmp_path, config_change(vocab_size=None)).endswith(
        ": bad config: config.vocab_size is missing")


def test_a_deep_header_record_is_refused_by_its_depth_before_it_is_parsed(tmp_path):
    deep = "[" * 5000 + "]" * 5000  # past what a JSON parser recurses into
    line = header_refusal(tmp_path, lambda meta: meta.update(training=deep))
    assert line.endswith(f"bad config: training is nested more than {JSON_MAX_DEPTH} levels deep"), line
