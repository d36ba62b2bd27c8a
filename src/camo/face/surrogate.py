"""How a cloak's step may see a member differently from the recognizer itself: skip gradients and feature dropout.

Both aim at recognizers outside the ensemble: they keep the step from fitting the members' exact gradients.

* **Skip gradients** (SGM; Wu et al., "Skip Connections Matter: On the Transferability of Adversarial Examples
  Generated with ResNets", ICLR 2020). A residual block computes ``shortcut(x) + branch(x)``; the gradient flowing
  back through every branch is multiplied by γ < 1 and the forward pass stays bit for bit as it is, so the step
  follows more of the gradient that reaches the pixels through the shortcuts.
* **Feature dropout** (the idea of DFANet; Zhong & Deng, "Towards Transferable Adversarial Attack against Deep Face
  Recognition", 2020): every convolution's output loses a random fraction p of its values (the rest scaled by
  1 / (1 − p)) in each forward pass with gradients, so each step sees a slightly different network drawn around the
  member: an ensemble of ghosts for the price of one. Passes without gradients (the cloak's references and every
  verification) see the member itself. The masks are windows, at random offsets, of one pool of uniform numbers drawn
  when a block first drops something: each mask is still independent Bernoulli values (two masks may share part of
  the pool), and a step draws one number per convolution instead of one per value (drawing every value was about a
  tenth of a cloak's time at low).

The networks camo builds (dlib's ResNet, the FaceNet graph, any ONNX graph) call :func:`residual_branch` on the
branch side of each residual join and :func:`conv_output` on each convolution's output; :func:`surrogate` sets γ and
p for the code run inside it. The settings live in a context variable, so concurrent cloaks in other threads keep
their own (γ = 1 and p = 0 are off).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace

import torch

from camo.errors import InputError

__all__ = ["branch_input", "conv_output", "dropout_rate", "residual_branch", "surrogate"]


#: Uniform numbers in a mask pool (16 MB); a convolution output larger than this draws its own mask.
POOL_SIZE = 1 << 22


class _Masks:
    """The dropout masks of one :func:`surrogate` block: a pool of uniform numbers drawn once from its generator, and
    per dropout fraction p the pool's keep-and-rescale factors (1 / (1 − p) where the number is ≥ p, else 0)."""

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator
        self.uniform: torch.Tensor | None = None
        self.factors: dict[float, torch.Tensor] = {}

    def factor(self, shape: torch.Size, rate: float, dtype: torch.dtype) -> torch.Tensor:
        """Keep-and-rescale factors of this shape for the fraction ``rate``: a window of the pool at a random
        offset (or freshly drawn ones, for an output larger than the pool or not in float32)."""
        count = math.prod(shape)
        if count > POOL_SIZE or dtype != torch.float32:
            keep = torch.rand(shape, generator=self.generator, dtype=dtype) >= rate
            return keep.to(dtype) / (1.0 - rate)
        if self.uniform is None:
            self.uniform = torch.rand(POOL_SIZE, generator=self.generator)
        if rate not in self.factors:
            self.factors[rate] = (self.uniform >= rate).to(torch.float32) / (1.0 - rate)
        offset = int(torch.randint(0, POOL_SIZE - count + 1, (), generator=self.generator))
        return self.factors[rate][offset:offset + count].view(shape)


@dataclass(frozen=True)
class _View:
    gamma: float = 1.0
    dropout: float = 0.0
    masks: _Masks | None = None


_OFF = _View()
_VIEW: ContextVar[_View | None] = ContextVar("camo_surrogate_view", default=None)


@contextmanager
def surrogate(*, skip_gradient: float | None = None, dropout: float | None = None, seed: int = 0) -> Iterator[None]:
    """Within the block, residual branches pass γ = ``skip_gradient`` × their gradient back, and convolutions drop
    a fraction ``dropout`` of their outputs in passes with gradients (None = off; 0 = none, but
    :func:`dropout_rate` may give a member its own; the dropout masks are drawn from a generator seeded with
    ``seed``, so a cloak is reproducible).

    Raises:
        InputError: γ is not in (0, 1], or the dropout fraction not in [0, 0.5].
    """
    if skip_gradient is not None and not (math.isfinite(skip_gradient) and 0 < skip_gradient <= 1):
        raise InputError(f"the skip gradient γ must be in (0, 1]; got {skip_gradient}")
    if dropout is not None and not (math.isfinite(dropout) and 0 <= dropout <= 0.5):
        raise InputError(f"the feature dropout fraction must be in [0, 0.5]; got {dropout}")
    if skip_gradient is None and dropout is None:
        yield
        return
    masks = _Masks(torch.Generator().manual_seed(seed)) if dropout is not None else None
    token = _VIEW.set(_View(1.0 if skip_gradient is None else skip_gradient, dropout or 0.0, masks))
    try:
        yield
    finally:
        _VIEW.reset(token)


@contextmanager
def dropout_rate(rate: float | None) -> Iterator[None]:
    """Within the block, convolutions drop a fraction ``rate`` of their outputs instead of the surrounding
    :func:`surrogate`'s (None = the surrounding rate): how each member of an ensemble gets its own rate. Outside a
    :func:`surrogate` with dropout (which owns the masks' generator) it changes nothing.

    Raises:
        InputError: the rate is not in [0, 0.5].
    """
    if rate is not None and not (math.isfinite(rate) and 0 <= rate <= 0.5):
        raise InputError(f"the feature dropout fraction must be in [0, 0.5]; got {rate}")
    view = _VIEW.get()
    if rate is None or view is None or view.masks is None:
        yield
        return
    token = _VIEW.set(replace(view, dropout=rate))
    try:
        yield
    finally:
        _VIEW.reset(token)


def residual_branch(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself in the forward pass (bit for bit); in the backward pass its gradient times the current γ.

    Shape: any -> the same.
    """
    gamma = (_VIEW.get() or _OFF).gamma
    if gamma == 1.0 or not x.requires_grad:
        return x
    frozen = x.detach()
    # (x − frozen) is exactly zero, so the value is x's; only γ of the gradient reaches x.
    return frozen + gamma * (x - frozen)


def conv_output(x: torch.Tensor) -> torch.Tensor:
    """A convolution's output with the current dropout fraction p of its values zeroed and the rest scaled by
    1 / (1 − p), in passes with gradients only; ``x`` itself otherwise.

    Shape: any -> the same.
    """
    view = _VIEW.get() or _OFF
    if not view.dropout or view.masks is None or not torch.is_grad_enabled():
        return x
    return x * view.masks.factor(x.shape, view.dropout, x.dtype)


def branch_input(producers: Sequence[int]) -> int:
    """Which of a residual join's two inputs is the branch, from the positions of the steps that produce them in a
    graph's execution order: the later one (every step of a branch runs after the block's input exists, so the
    shortcut's producer comes first; with a computed shortcut, e.g. a projection, it is the side that ends later).

    Raises:
        InputError: not exactly two producers.
    """
    if len(producers) != 2:
        raise InputError(f"a residual join adds two values; got {len(producers)}")
    return 0 if producers[0] > producers[1] else 1
