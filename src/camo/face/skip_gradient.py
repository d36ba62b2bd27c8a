"""Skip gradients: a residual network's backward pass with its residual branches turned down.

A residual block computes ``y = shortcut(x) + branch(x)``. The skip gradient method (SGM; Wu et al., "Skip
Connections Matter: On the Transferability of Adversarial Examples Generated with ResNets", ICLR 2020) multiplies the
gradient that flows back through every branch by γ < 1 and leaves the forward pass exactly as it is, so the attack
follows more of the gradient that reaches the input through the shortcuts: the lower-level, more shared features,
which the paper found to transfer better to other networks.

The networks camo builds (dlib's ResNet, the FaceNet graph, any ONNX graph with residual additions) call
:func:`residual_branch` on the branch side of each residual join; :func:`branch_gradient` sets γ for the code run
inside it. γ lives in a context variable, so concurrent cloaks in other threads keep their own (1 = off).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import torch

from camo.errors import InputError

__all__ = ["branch_gradient", "branch_input", "residual_branch"]

_GAMMA: ContextVar[float] = ContextVar("camo_branch_gradient", default=1.0)


@contextmanager
def branch_gradient(gamma: float | None) -> Iterator[None]:
    """Within the block, every residual branch passes γ × its gradient back (None or 1 = unchanged).

    Raises:
        InputError: γ is not in (0, 1].
    """
    if gamma is None:
        yield
        return
    if not (math.isfinite(gamma) and 0 < gamma <= 1):
        raise InputError(f"the skip gradient γ must be in (0, 1]; got {gamma}")
    token = _GAMMA.set(gamma)
    try:
        yield
    finally:
        _GAMMA.reset(token)


def residual_branch(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself in the forward pass (bit for bit); in the backward pass its gradient times the current γ.

    Shape: any -> the same.
    """
    gamma = _GAMMA.get()
    if gamma == 1.0 or not x.requires_grad:
        return x
    frozen = x.detach()
    # (x − frozen) is exactly zero, so the value is x's; only γ of the gradient reaches x.
    return frozen + gamma * (x - frozen)


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
