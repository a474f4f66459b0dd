"""Damage for training pairs: composable, parameterised, recorded and reproducible.

>>> from msar_hf.data.degradations import DegradationConfig, Degrader
>>> deg = Degrader(DegradationConfig.from_yaml("recipes/configs/degradations.yaml"))
>>> degraded, record = deg(clean, seed=1234, index=7)   # same (seed, index) -> same bytes

Families (one module each): ``noise`` (recorded, mixtures, modulated, coloured, babble,
impulsive, music-like, hum),
``room`` (measured and pyroomacoustics RIRs), ``level`` (clipping, gain, DC), ``channel``
(band-limiting, mp3/opus), ``dropouts`` (Gilbert-Elliott packet loss) and ``augment``
(speed/tempo/pitch of the clean speech). All work on 16 kHz mono float32 tensors or arrays.
"""

from .augment import change_voice, pitch_shift, speed_perturb, tempo_perturb
from .channel import band_limit, codec, low_pass, telephone
from .config import DAMAGE_ORDER, NOISE_KINDS, DegradationConfig, DegradationConfigError
from .degrader import DegradationInputError, Degrader
from .dropouts import dropouts, gilbert_elliott_mask
from .level import clip_hard, clip_soft, dc_offset, gain
from .noise import (
    add_noise,
    babble,
    coloured_noise,
    impulsive_noise,
    mains_hum,
    mix_noises,
    modulate,
    music_noise,
)
from .room import prepare_rir, reverberate, simulate_rirs

__all__ = [
    "DAMAGE_ORDER", "NOISE_KINDS", "DegradationConfig", "DegradationConfigError", "DegradationInputError", "Degrader",
    "add_noise", "babble", "band_limit", "change_voice", "clip_hard", "clip_soft", "codec", "coloured_noise",
    "dc_offset", "dropouts", "gain", "gilbert_elliott_mask", "impulsive_noise", "low_pass", "mains_hum",
    "mix_noises", "modulate", "music_noise", "pitch_shift", "prepare_rir", "reverberate", "simulate_rirs", "speed_perturb",
    "telephone", "tempo_perturb",
]
