"""Training precisions: Keras's dtype policy for the bulk of a network, and the float32 it keeps for what a
loss reads."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras

#: Training precisions (a model's `precision` option). `mixed_bfloat16`: Keras's mixed policy (bfloat16
#: compute, float32 variables) for the bulk of the network, while the code heads, the sampler, the decoder's
#: output and the loss stay float32 (see `precision_scope`).
PRECISIONS = ("float32", "mixed_bfloat16")


@contextlib.contextmanager
def precision_scope(precision: str) -> Iterator[None]:
    """Layers created inside compute in `precision` (Keras's global dtype policy, restored on exit).

    A layer keeps the policy it was created with, and saves it: a loaded model computes as it trained,
    whatever the global policy then. `float32` inside a `mixed_bfloat16` scope is how the builders keep the
    heads, the sampler and the outputs in full precision; in a float32 model it changes nothing.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _full_precision() -> contextlib.AbstractContextManager[None]:
    """Builds the layers a loss reads (heads, sampler, outputs) in float32 under any policy."""
    return precision_scope("float32")


def _as_float32(tensor: Any, name: str) -> Any:
    """`tensor` itself when it is float32 (always, in a float32 model); else a float32 copy, for outputs
    whose last layer ran in bfloat16 (an AE whose trunk ends in its code)."""
    if keras.backend.standardize_dtype(tensor.dtype) == "float32":
        return tensor
    with _full_precision():
        return keras.layers.Activation("linear", name=name)(tensor)
