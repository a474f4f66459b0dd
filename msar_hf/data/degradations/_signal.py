"""Small signal helpers shared by the damage families (numpy inside, tensors at the edge)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor


def as_numpy(x: ArrayLike) -> np.ndarray:
    """float32 (T,) numpy view of a tensor or array (no copy when already float32 on CPU)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def array_io(func: Callable) -> Callable:
    """Let a numpy damage function take and return torch tensors too (same type out as in)."""

    @functools.wraps(func)
    def wrapper(x, *args, **kwargs):
        was_tensor = isinstance(x, torch.Tensor)
        out = func(as_numpy(x), *args, **kwargs)
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32)) if was_tensor else out

    return wrapper


def power(x: np.ndarray) -> float:
    """Mean square, in float64 so long quiet clips do not lose precision."""
    return float(np.mean(np.square(x, dtype=np.float64))) if x.size else 0.0


def rms(x: np.ndarray) -> float:
    return power(x) ** 0.5


def loop_to_length(x: np.ndarray, n: int, start: int = 0, fade: int = 320) -> np.ndarray:
    """``n`` samples of ``x`` read from ``start``, looping with a short raised-cosine crossfade
    at each wrap so a short noise file repeats without clicks."""
    x = np.asarray(x, dtype=np.float32)
    if x.size == 0:
        return np.zeros(n, np.float32)
    start %= x.size
    if x.size - start >= n:
        return x[start:start + n]
    fade = min(fade, x.size // 4)
    if fade > 0:
        # Crossfade the loop seam once: the tail fades out while the head fades in.
        ramp = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, fade, dtype=np.float32)))
        loop = x[:-fade].copy()
        loop[:fade] = x[:fade] * ramp + x[-fade:] * (1.0 - ramp)
    else:
        loop = x
    reps = int(np.ceil((n + start) / loop.size)) + 1
    return np.tile(loop, reps)[start:start + n]


def lerp(value_range, severity: float) -> float:
    """Map a severity in [0, 1] onto a ``[mildest, harshest]`` range."""
    lo, hi = float(value_range[0]), float(value_range[1])
    return lo + float(severity) * (hi - lo)


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Crop or zero-pad to exactly ``n`` samples."""
    if x.size >= n:
        return x[:n]
    return np.pad(x, (0, n - x.size))
