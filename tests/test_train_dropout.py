"""Dropout masks while training through the loop (training/example_dropout.py): an example's mask is
a function of the example and the step, whichever other examples share its batch (as a rank's
slice does under torchrun), it drops p of the units and scales the rest, and it is torch's own
dropout outside a training step. The loop puts the model's own dropout back when it ends."""
from __future__ import annotations

import torch
from torch import nn

from attnviewer.training import example_dropout
from attnviewer.training.example_dropout import ExampleDropout, examples, use


def masked(x: torch.Tensor, rows, step: int = 5, seed: int = 0, layer: int = 0) -> torch.Tensor:
    drop = ExampleDropout(0.5, layer).train()
    with examples(seed, step, rows):
        return drop(x)


def test_an_examples_mask_depends_on_the_example_and_step_not_on_its_batch():
    x = torch.ones(3, 400)
    whole = masked(x, [11, 4, 9])
    alone = masked(x[1:2], [4])  # example 4 in a slice of its own, as on another rank
    assert torch.equal(whole[1:2], alone)
    assert not torch.equal(whole[0], whole[1])  # other examples, other masks
    assert not torch.equal(masked(x, [11, 4, 9], step=6), whole)  # another step, other masks
    assert not torch.equal(masked(x, [11, 4, 9], layer=1), whole)  # another layer, other masks
    assert set(whole.unique().tolist()) == {0.0, 2.0}  # dropped, or kept and scaled by 1 / (1 - p)
    assert abs(float((whole == 0).float().mean()) - 0.5) < 0.05


def test_each_call_in_a_forward_pass_draws_a_new_mask():
    drop = ExampleDropout(0.5, 0).train()
    x = torch.ones(2, 300)
    with examples(0, 1, [0, 1]):
        first, second = drop(x), drop(x)  # a decoder's two time steps
    assert not torch.equal(first, second)
    with examples(0, 1, [0, 1]):
        assert torch.equal(drop(x), first)  # the same step again: the same masks


def test_outside_a_step_it_is_torchs_dropout_and_off_in_eval():
    drop = ExampleDropout(0.5, 0)
    x = torch.ones(4, 100)
    assert torch.equal(drop.eval()(x), x)
    torch.manual_seed(0)
    a = drop.train()(x)
    torch.manual_seed(0)
    assert torch.equal(a, nn.functional.dropout(x, 0.5, True))


def test_the_model_gets_its_own_dropout_back():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.3), nn.Sequential(nn.Dropout(0.2)))
    with use(model) as n:
        assert n == 2 and [type(m) for m in model.modules()].count(ExampleDropout) == 2
        assert model[2][0].p == 0.2 and model[2][0].layer == 1
    assert type(model[1]) is nn.Dropout and type(model[2][0]) is nn.Dropout
    assert example_dropout._current is None
