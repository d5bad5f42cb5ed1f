"""What a model folder's generation_config asks of every output, applied the way generate() does:
with transformers' own logits processors (they are the reference), to each step's scores given
the ids each row has so far (the decoder's start token first, as generate()'s input_ids).

generate() applies them to the logits in greedy search and sampling, and to the log
probabilities (log_softmax first, not renormalised after) in beam search; the stepper does the
same, so words and beam scores equal generate()'s.
"""
from __future__ import annotations

from torch import Tensor

from ...errors import CheckpointError, first_line

# generation_config fields honoured here (forced_bos_token_id and the length ones are the stepper's)
FIELDS = ("repetition_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
          "min_length", "min_new_tokens")


class GenerationRules:
    """The processors of one folder's generation_config, built once per device."""

    def __init__(self, values: dict, eos, name: str = "the model"):
        self.values, self.eos, self.name = values, eos, name
        self._built: dict[str, list] = {}
        self._processors("cpu")  # a wrong value is refused when the folder loads, not at the first word
        self.encoder_ngram = int(values.get("encoder_no_repeat_ngram_size") or 0)  # (checked just above)

    def __bool__(self) -> bool:
        return bool(self.values)

    def _processors(self, device) -> list:
        key = str(device)
        if key not in self._built:
            try:
                self._built[key] = _build(self.values, self.eos, device)
            except (ValueError, TypeError) as e:
                raise CheckpointError(f"{self.name}: its generation_config.json has a value transformers refuses "
                                      f"({first_line(e)[:160]})") from None
        return self._built[key]

    def __call__(self, ids: Tensor, scores: Tensor, source: Tensor | None = None) -> Tensor:
        """scores (B, V) given ids (B, t) (start token first) and the encoder's input ids (B, S)."""
        from transformers import EncoderNoRepeatNGramLogitsProcessor

        for processor in self._processors(scores.device):
            scores = processor(ids, scores)
        # (a mask like those after the penalty: its place among them changes nothing)
        if self.encoder_ngram and source is not None:  # built per step: its rows are this step's
            scores = EncoderNoRepeatNGramLogitsProcessor(self.encoder_ngram, source)(ids, scores)
        return scores


def rules_of(gen, eos, name: str) -> GenerationRules | None:
    """The rules a generation_config sets (None where it sets none)."""
    if gen is None:
        return None
    values = {}
    for key in FIELDS:
        value = getattr(gen, key, None)
        if value is None or value is False:
            continue
        if key == "repetition_penalty" and value == 1.0:
            continue
        if key in ("no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "min_length", "min_new_tokens") and \
                isinstance(value, int) and value <= 0:
            continue
        values[key] = value
    return GenerationRules(values, eos, name) if values else None


def _build(values: dict, eos, device) -> list:
    """transformers' processors in generate()'s order (the encoder's n-grams apart: see __call__)."""
    import transformers as tf

    out = []
    if "repetition_penalty" in values:
        out.append(tf.RepetitionPenaltyLogitsProcessor(values["repetition_penalty"]))
    if "no_repeat_ngram_size" in values:
        out.append(tf.NoRepeatNGramLogitsProcessor(values["no_repeat_ngram_size"]))
    if "bad_words_ids" in values:
        out.append(tf.NoBadWordsLogitsProcessor(values["bad_words_ids"], eos))
    if "min_length" in values:
        out.append(tf.MinLengthLogitsProcessor(values["min_length"], eos, device=device))
    if "min_new_tokens" in values:
        out.append(tf.MinNewTokensLengthLogitsProcessor(1, values["min_new_tokens"], eos, device=device))
    if "encoder_no_repeat_ngram_size" in values:
        tf.EncoderNoRepeatNGramLogitsProcessor(values["encoder_no_repeat_ngram_size"], _probe())  # checks its size
    return out


def _probe():
    import torch

    return torch.zeros((1, 1), dtype=torch.long)
