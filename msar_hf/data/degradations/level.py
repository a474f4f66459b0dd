"""Level damage: hard and soft clipping, gain, DC offset."""

from __future__ import annotations

import numpy as np

from ._signal import array_io


@array_io
def clip_hard(x, clipped_fraction: float):
    """Clip symmetrically at the level that puts ``clipped_fraction`` of the samples on the rails.

    By hand: audiomentations' ClippingDistortion only accepts whole-percent thresholds, while
    realistic mild clipping touches 0.1 % of the samples.
    """
    if clipped_fraction <= 0 or x.size == 0:
        return x.copy()
    threshold = np.float32(np.quantile(np.abs(x), 1.0 - min(float(clipped_fraction), 1.0)))
    if threshold <= 0:
        return x.copy()
    return np.clip(x, -threshold, threshold)


@array_io
def clip_soft(x, distortion: float):
    """Soft saturation (tanh, loudness kept): audiomentations' TanhDistortion with a fixed
    ``distortion`` amount in [0, 1]."""
    from audiomentations import TanhDistortion

    if x.size == 0:
        return x.copy()
    transform = TanhDistortion(p=1.0)  # one per call: cheap, and thread-safe
    # Parameters set explicitly instead of randomize_parameters(), which reads global RNGs.
    transform.parameters = {"should_apply": True, "distortion_amount": float(distortion)}
    return transform.apply(x, 16000).astype(np.float32)


@array_io
def gain(x, gain_db: float):
    """Scale by ``gain_db`` decibels (no limiting: clipping is its own damage)."""
    return x * np.float32(10 ** (gain_db / 20))


@array_io
def dc_offset(x, offset: float):
    """Add a constant offset (a faulty preamp or sound card)."""
    return x + np.float32(offset)
