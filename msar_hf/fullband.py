"""The band above the repair model's Nyquist frequency, for inputs recorded at higher rates.

The repair model works at 16 kHz, so a 44.1 or 48 kHz recording reaches it without its band above
8 kHz (sibilants, breath, air). Resampling the repaired signal back up would leave that band empty:
a clean 48 kHz recording would come back audibly duller than it went in. Instead the input's own
upper band is put back, scaled frame by frame by the gain the repair applied at the top of its own
band (4.5-7.6 kHz): where the model removed noise there, the same frames lose as much above 8 kHz;
where it kept speech, the band comes back as recorded. The gain never exceeds 1, so nothing the
input lacked is invented. Noise that lives mostly above 8 kHz (hiss) therefore drops only as much
as the noise just below it; a noise-floor suppressor on the band itself cost clean speech its
detail there (README, "Full-band input"). Below 16 kHz the same rule puts back the sliver under
the input's Nyquist frequency that the resampling round trip attenuates, so an identity repair
(strength 0) returns the input itself at any rate. Written by hand: no audio library ships a
band-split gain transfer; the resampler (torchaudio's, as everywhere in msar) does the band split.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .audio import resample

# Where the gain is measured: the model's own upper band, below the resampler's roll-off at 8 kHz.
GAIN_BAND_HZ = (4500.0, 7600.0)
_N_FFT, _HOP = 512, 128  # 32 ms frames every 8 ms at 16 kHz


def upper_band(waveform: torch.Tensor, rate: int, model_rate: int = 16000,
               at_model_rate: torch.Tensor | None = None) -> torch.Tensor:
    """(C, T) at ``rate`` -> what a round trip through ``model_rate`` loses: the input minus its
    copy resampled to ``model_rate`` and back (the band above ``model_rate / 2`` for a higher
    rate, the resampler's roll-off under the Nyquist frequency for a lower one); the two parts
    sum to the input exactly. ``at_model_rate``: that copy, when the caller has it already."""
    if at_model_rate is None:
        at_model_rate = resample(waveform, rate, model_rate)
    low = resample(at_model_rate, model_rate, rate)
    return waveform - low[..., : waveform.shape[-1]]


def band_gain(damaged: torch.Tensor, repaired: torch.Tensor, rate: int = 16000,
              band_hz: tuple[float, float] = GAIN_BAND_HZ) -> torch.Tensor:
    """(C, T) x (C, T) at ``rate`` -> (C, frames) amplitude gain, 0..1, that turned ``damaged`` into
    ``repaired`` within ``band_hz``, one value every 8 ms (frames centred on multiples of the hop),
    smoothed over three frames."""
    window = torch.hann_window(_N_FFT, dtype=torch.float32)
    # zero (not reflect) padding at the edges: any length works, down to one sample
    power = lambda x: torch.stft(x.float(), _N_FFT, _HOP, window=window, pad_mode="constant",
                                 return_complex=True).abs().pow(2)
    freqs = torch.fft.rfftfreq(_N_FFT, 1.0 / rate)
    rows = (freqs >= band_hz[0]) & (freqs <= band_hz[1])
    before = power(damaged)[:, rows].sum(1)
    after = power(repaired)[:, rows].sum(1)
    floor = 1e-10 + 1e-6 * before.mean(-1, keepdim=True)  # near-silent frames: no wild ratios
    gain = ((after + floor) / (before + floor)).sqrt().clamp(0.0, 1.0)
    return F.avg_pool1d(gain.unsqueeze(1), 3, stride=1, padding=1, count_include_pad=False).squeeze(1)


def add_upper_band(repaired_low: torch.Tensor, original: torch.Tensor, rate: int,
                   damaged_model: torch.Tensor, repaired_model: torch.Tensor,
                   model_rate: int = 16000) -> torch.Tensor:
    """The repaired signal at the original's rate with the original's upper band restored.

    Args:
        repaired_low: (C, T) the repair, resampled up to ``rate`` (nothing above ``model_rate/2``).
        original: (C, T) the damaged input at ``rate``.
        damaged_model / repaired_model: (C, n) the input resampled to ``model_rate`` and its repair:
            their ratio in :data:`GAIN_BAND_HZ` is the gain applied to the upper band.
    """
    if rate == model_rate:
        return repaired_low
    length = original.shape[-1]
    gain = band_gain(damaged_model, repaired_model, model_rate)  # (C, frames)
    envelope = F.interpolate(gain.unsqueeze(1), size=length, mode="linear", align_corners=True).squeeze(1)
    # damaged_model is the original resampled down: reuse it rather than resample it again
    return repaired_low[..., :length] + envelope * upper_band(original, rate, model_rate, damaged_model)


__all__ = ["GAIN_BAND_HZ", "add_upper_band", "band_gain", "upper_band"]
