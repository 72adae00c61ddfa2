"""vae-latent-study: how VAEs and autoencoders organise their latent space, as a reproducible study."""

__version__ = "0.1.0"
