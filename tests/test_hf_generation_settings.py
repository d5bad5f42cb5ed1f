"""What a model folder's generation_config asks of every output is honoured as generate() honours
it: repetition penalty, n-gram blocking (of the output, and of the source for a translator),
minimum length (min_length and min_new_tokens), bad words of one or more tokens, and the beam's
length penalty and early stopping. For each, greedy decoding and beam search (k=3) equal
generate()'s words and scores (within 1e-4), and the option changes the words the model writes
(or the test would mean nothing)."""
from __future__ import annotations

import json
import warnings

import pytest

pytest.importorskip("transformers")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from attnviewer.decoding.search import decode, run  # noqa: E402
from attnviewer.errors import CheckpointError  # noqa: E402
from attnviewer.models import registry  # noqa: E402
from attnviewer.settings import DecodeSettings  # noqa: E402

from . import hf_models  # noqa: E402
from .test_hf_models import SENTENCES, _inputs, _words  # noqa: E402

MAX_NEW = 8
TOL = 1e-4
BUILDERS = {  # name: (builder, kind, the output layer's tensor, a word the end is made like, how much)
    "marian": (lambda p: hf_models.marian(p, seed=2), "translate", "lm_head.weight", 19, 0.5),
    "vit": (lambda p: hf_models.vit_gpt2(p, "vit"), "caption", "decoder.transformer.wte.weight", 19, 1.0),
}
END = 2  # both tokenizers' </s>


def _ending(folder, tensor: str, like: int, scale: float) -> None:
    """The end token made likely at times (its output row near a frequent word's): the random
    models' outputs then end at different lengths, as length rules need."""
    from safetensors.torch import load_file, save_file

    weights = load_file(folder / "model.safetensors")
    rows = weights[tensor].clone()
    noise = torch.randn(rows.shape[1], generator=torch.Generator().manual_seed(0))
    rows[END] = scale * rows[like] + 0.5 * noise * rows[like].std()
    weights[tensor] = rows
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """name -> the folder as built (each built once)."""
    cache = {}

    def get(name):
        if name not in cache:
            build, _, tensor, like, scale = BUILDERS[name]
            cache[name] = build(tmp_path_factory.mktemp("gen") / name)
            _ending(cache[name], tensor, like, scale)
        return cache[name]

    return get


@pytest.fixture(scope="module")
def plain(built, tmp_path_factory):
    """name -> the words of greedy and beam search without any rule (checked against generate())."""
    cache = {}

    def get(name):
        if name not in cache:
            model, inputs = _with(built, tmp_path_factory.mktemp("plain"), name)
            cache[name] = [_assert_equal_to_generate(model, inputs, beams) for beams in (1, 3)]
        return cache[name]

    return get


def _with(built, tmp_path, name: str, **fields):
    """The tiny model `name` loaded from a copy of its folder whose generation_config.json sets `fields`."""
    import shutil

    folder = shutil.copytree(built(name), tmp_path / name)
    path = folder / "generation_config.json"
    config = json.loads(path.read_text())
    config.update(fields)
    path.write_text(json.dumps(config))
    model = registry.load(str(folder), "cpu", kind=BUILDERS[name][1])
    assert model.end_id == END
    return model, _inputs(model, model.kind)


def _ours(model, inputs, beams: int):
    settings = DecodeSettings("greedy" if beams == 1 else "beam", beam=beams, max_len=MAX_NEW)
    with torch.inference_mode():
        return run(decode(model, model.init_state(inputs), settings, stream=False))


def _generate(model, inputs, beams: int):
    """generate() with the folder's generation_config: only the search and the outputs named."""
    if model.kind == "translate":
        ids, mask, _ = inputs
        given = dict(input_ids=ids, attention_mask=mask)
    else:
        given = dict(pixel_values=model._pixels(inputs))
    search = dict(num_beams=beams, num_return_sequences=beams) if beams > 1 else {}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its notes on flags only beam search reads, in greedy search
        return model.hf.generate(**given, **search, max_new_tokens=MAX_NEW, do_sample=False, output_scores=True,
                                 return_dict_in_generate=True)


def _assert_equal_to_generate(model, inputs, beams: int) -> list[list[int]]:
    """Our hypotheses equal generate()'s, words and scores; the words of each returned sequence."""
    ours = _ours(model, inputs, beams)
    out = _generate(model, inputs, beams)
    words = []
    for i, row in enumerate(out.sequences.tolist()):
        b, j = divmod(i, beams)
        hyp, ids = ours[b][j], _words(model, row)
        assert hyp.token_ids == ids, f"input {b}, hypothesis {j}"
        words.append(ids)
        if beams > 1:
            assert hyp.score == pytest.approx(float(out.sequences_scores[i]), abs=TOL)
            continue
        # greedy: generate()'s scores are the processed logits; ours their log softmax
        steps = len(ids) + hyp.ended
        theirs = [torch.log_softmax(out.scores[t][b].float(), -1)[row[t + 1]].item() for t in range(steps)]
        np.testing.assert_allclose(np.log(hyp.probs), theirs[:len(ids)], atol=TOL)
        assert hyp.log_prob == pytest.approx(sum(theirs), abs=TOL)
    return words


CASES = {  # name: (model, generation_config fields)
    "repetition_penalty": ("marian", dict(repetition_penalty=3.0)),
    "repetition_penalty_caption": ("vit", dict(repetition_penalty=3.0)),
    "no_repeat_ngram": ("marian", dict(no_repeat_ngram_size=1)),
    "no_repeat_ngram_caption": ("vit", dict(no_repeat_ngram_size=2)),
    "encoder_no_repeat_ngram": ("marian", dict(encoder_no_repeat_ngram_size=1)),
    "min_length": ("marian", dict(min_length=8)),
    "min_new_tokens": ("vit", dict(min_new_tokens=7)),
    "length_penalty_and_never": ("marian", dict(length_penalty=3.0, early_stopping="never")),
    "early_stopping": ("marian", dict(early_stopping=True)),  # (without: transformers' default, False)
}


@pytest.mark.parametrize("case", list(CASES))
def test_generation_config_is_honoured_as_generate_does(built, plain, tmp_path, case):
    name, fields = CASES[case]
    model, inputs = _with(built, tmp_path, name, **fields)
    ruled = [_assert_equal_to_generate(model, inputs, beams) for beams in (1, 3)]
    assert ruled != plain(name), f"{case}: the option changes nothing here; the test would mean nothing"


def test_bad_words_of_several_tokens_are_never_written(built, plain, tmp_path):
    """bad_words_ids: a pair of tokens the model writes without it, and a single token."""
    first = plain("marian")[0][0]
    pair, single = first[1:3], first[0]
    model, inputs = _with(built, tmp_path, "marian", bad_words_ids=[pair, [single]])
    for beams in (1, 3):
        for ids in _assert_equal_to_generate(model, inputs, beams):
            assert single not in ids
            assert all(ids[i:i + 2] != pair for i in range(len(ids) - 1))


def test_a_wrong_value_in_generation_config_is_refused_in_one_line(built, tmp_path):
    with pytest.raises(CheckpointError, match="generation_config.json .*(refuses|length_penalty)"):
        _with(built, tmp_path, "marian", length_penalty="long")


@pytest.mark.parametrize("fields", [dict(repetition_penalty=-1.0), dict(encoder_no_repeat_ngram_size="two"),
                                    dict(no_repeat_ngram_size=2.5)])
def test_a_value_transformers_refuses_is_one_line(built, tmp_path, fields):
    with pytest.raises(CheckpointError, match="generation_config.json has a value transformers refuses"):
        _with(built, tmp_path, "marian", **fields)
