"""Dropouts / packet loss: frames zeroed or repeated, in bursts like a Gilbert-Elliott channel.

By hand: audiomentations' TimeMask blanks one span per call; packet loss needs many frames on a
packet grid, bursty, with an exact rate, and concealment by repetition.
"""

from __future__ import annotations

import numpy as np

from ._signal import array_io


def gilbert_elliott_mask(num_frames: int, loss_rate: float, mean_burst: float,
                         rng: np.random.Generator) -> np.ndarray:
    """Boolean loss mask over ``num_frames`` packets with bursty losses.

    A two-state Gilbert-Elliott channel loses packets in the bad state; its bursts have
    geometric lengths with mean ``mean_burst`` and the good runs between them are geometric too.
    Here the bursts are drawn that way and then *placed* at random between good runs so the
    mask holds exactly ``round(loss_rate * num_frames)`` losses: a 3-second clip with a freely
    running chain would miss the requested rate by +-10 points.
    """
    lost = round(min(max(loss_rate, 0.0), 1.0) * num_frames)
    mask = np.zeros(num_frames, bool)
    if lost == 0:
        return mask
    if lost >= num_frames:
        mask[:] = True
        return mask
    p_end = 1.0 / max(mean_burst, 1.0)  # bad -> good transition probability
    bursts = []
    while sum(bursts) < lost:
        bursts.append(int(rng.geometric(p_end)))
    bursts[-1] -= sum(bursts) - lost
    bursts = [b for b in bursts if b > 0]
    good = num_frames - lost
    # Bursts need a good frame between them; merge the surplus when there are too few.
    while len(bursts) > good + 1:
        bursts[-2] += bursts.pop()
    # Choose distinct gaps among the good+1 slots between good frames, one burst per slot.
    slots = np.sort(rng.choice(good + 1, size=len(bursts), replace=False))
    order = rng.permutation(len(bursts))
    pos, prev_slot = 0, 0
    for slot, burst in zip(slots, (bursts[i] for i in order)):
        pos += int(slot - prev_slot)  # good frames before this burst
        mask[pos:pos + burst] = True
        pos += burst
        prev_slot = slot
    return mask


@array_io
def dropouts(x, sampling_rate: int, rng: np.random.Generator, loss_rate: float = 0.1,
             frame_ms: float = 20.0, mean_burst: float = 2.0, mode: str = "zero"):
    """Lose ``loss_rate`` of the ``frame_ms`` packets (bursty, see :func:`gilbert_elliott_mask`).

    ``mode='zero'`` leaves silence (no concealment); ``mode='repeat'`` repeats the last good
    packet (the simplest packet-loss concealment; silence when nothing came before).
    """
    out = x.copy()
    frame = max(1, round(frame_ms * sampling_rate / 1000))
    num_frames = int(np.ceil(x.size / frame))
    if num_frames == 0:
        return out
    mask = gilbert_elliott_mask(num_frames, loss_rate, mean_burst, rng)
    if not mask.any():
        return out
    padded = np.zeros(num_frames * frame, np.float32)
    padded[:x.size] = x
    frames = padded.reshape(num_frames, frame)
    if mode == "zero":
        frames[mask] = 0.0
    elif mode == "repeat":
        idx = np.where(~mask, np.arange(num_frames), -1)
        last_good = np.maximum.accumulate(idx)
        src = frames.copy()
        frames[mask] = np.where((last_good[mask] >= 0)[:, None], src[np.maximum(last_good[mask], 0)], 0.0)
    else:
        raise ValueError(f"unknown dropout mode {mode!r} (zero, repeat)")
    return frames.reshape(-1)[:x.size]
