"""The backend a training runs on: TensorFlow's thread pools and op determinism, and the library versions a
sidecar records."""

from __future__ import annotations

import logging
from typing import Any

import keras

from vae_latent_study.provenance import library_versions

logger = logging.getLogger(__name__)


def runtime_versions() -> dict[str, str]:
    """`provenance.library_versions` plus Keras and TensorFlow.

    TensorFlow is installed as the `tensorflow-cpu` distribution, which a lookup of `tensorflow` misses;
    on the TensorFlow backend its version is taken from the module itself.
    """
    versions = library_versions(extra=("tensorflow", "tensorflow-cpu", "keras"))
    if _tensorflow_backend():
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    return versions


def _tensorflow_backend() -> bool:
    return keras.backend.backend() == "tensorflow"


def _configure_tensorflow(threads: int | None) -> dict[str, Any]:
    """Thread pools (only before TensorFlow initialises) and op determinism; the settings in effect."""
    import tensorflow as tf

    if threads is not None:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(int(threads))
        except RuntimeError:
            # Raised once the runtime exists (after any TF op in this process), unless the value is unchanged.
            logger.warning(
                "TensorFlow was already initialised in this process; threads=%d not applied", threads
            )
    tf.config.experimental.enable_op_determinism()
    return {
        "requested": threads,
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        "op_determinism": True,
    }
