"""What damage to apply, how often and how hard: :class:`DegradationConfig`.

Every numeric range is written ``[mildest, harshest]`` (so an SNR range reads ``[30, -5]`` and a
low-pass cut-off range ``[6000, 2000]``). A damage's severity ``s`` is drawn uniformly in
``[0, 1]`` (``[0, mild_severity]`` for mildly damaged examples) and each parameter is
``mildest + s * (harshest - mildest)``, so one knob moves every damage from gentle to brutal.

File folders (noise, RIRs, babble speech) are plain config keys. ``noise_dir`` and ``rir_dir``
default to ``$MSAR_DATA_ROOT/noise`` and ``$MSAR_DATA_ROOT/rir`` with ``MSAR_DATA_ROOT`` itself
defaulting to ``../shared/data``; a default folder that does not exist is skipped with a
warning (synthetic noises and simulated rooms still work), an explicit one raises.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import MsarError

DATA_ROOT_ENV = "MSAR_DATA_ROOT"
DEFAULT_DATA_ROOT = "../shared/data"
# Kept literally in the config so a saved config stays portable; expanded by resolve_folder().
DEFAULT_NOISE_DIR = "${MSAR_DATA_ROOT}/noise"
DEFAULT_RIR_DIR = "${MSAR_DATA_ROOT}/rir"


class DegradationConfigError(MsarError):
    """A degradation config (YAML file or keyword) a user wrote is invalid."""


Range = list  # [mildest, harshest]

NOISE_KINDS = ("file", "mixture", "modulated", "coloured", "shaped", "babble", "impulsive", "music")
# Spectral slope exponents beta of 1/f^beta power spectra.
COLOUR_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0, "blue": -1.0, "violet": -2.0}


@dataclass
class NoiseConfig:
    """Additive noise: recorded files, mixtures of two, modulated (non-stationary), coloured,
    shaped (steady, under a random smooth spectrum: resonances, speech-shaped), babble (other
    talkers), impulsive (knocks, clicks) and music-like sounds. ``shaped`` weighs 0 by default
    (every shipped stage trained without it); ``autoencoder_cpu_shaped.yaml`` gives it weight."""

    p: float = 0.6
    snr_db: Range = field(default_factory=lambda: [30.0, -5.0])
    # Relative weights of the noise kinds; kinds whose material is missing (no noise folder, no
    # speech folder for babble) are dropped and the rest renormalised.
    kinds: dict = field(default_factory=lambda: {
        "file": 0.35, "mixture": 0.15, "modulated": 0.1, "coloured": 0.1, "babble": 0.15,
        "impulsive": 0.075, "music": 0.075})
    colours: list = field(default_factory=lambda: ["white", "pink", "brown", "blue"])
    babble_talkers: list = field(default_factory=lambda: [3, 8])  # [min, max] overlapping talkers
    mixture_level_db: Range = field(default_factory=lambda: [-15.0, 0.0])  # second noise vs first
    modulation_hz: list = field(default_factory=lambda: [0.2, 8.0])  # envelope rate [min, max]
    modulation_depth: Range = field(default_factory=lambda: [0.3, 1.0])
    impulse_rate_hz: list = field(default_factory=lambda: [0.5, 20.0])  # transients per second
    # Share of recorded-noise segments (file, mixture, modulated kinds) played at another speed,
    # drawn log-uniformly from file_speed: pitch and tempo move together, so one recording of a
    # machine, an alarm or a kitchen stands for many. 0 (the default) draws nothing extra.
    file_speed_p: float = 0.0
    file_speed: list = field(default_factory=lambda: [0.7, 1.4])


@dataclass
class ReverbConfig:
    """Reverberation with measured RIRs (``rir_dir``) or rooms simulated by pyroomacoustics."""

    p: float = 0.35
    simulated_fraction: float = 0.5  # share of reverberated examples that use a simulated room
    # Simulated rooms: one pool per Degrader, built once (deterministically from pool_seed).
    pool_size: int = 24
    pool_seed: int = 0
    rt60_s: Range = field(default_factory=lambda: [0.2, 1.0])  # pool spans this range
    room_size_m: list = field(default_factory=lambda: [[3.0, 3.0, 2.4], [12.0, 10.0, 4.5]])
    source_distance_m: list = field(default_factory=lambda: [0.5, 4.0])
    # Mix of wet and dry: 1.0 is fully reverberant, lower keeps more of the direct sound.
    wet_level: Range = field(default_factory=lambda: [0.4, 1.0])


@dataclass
class ClippingConfig:
    p: float = 0.15
    soft_fraction: float = 0.3  # share of clipped examples that use tanh (soft) saturation
    clipped_fraction: Range = field(default_factory=lambda: [0.001, 0.2])  # hard: samples at the rail
    distortion: Range = field(default_factory=lambda: [0.1, 0.9])  # soft: audiomentations amount


@dataclass
class DropoutConfig:
    p: float = 0.15
    loss_rate: Range = field(default_factory=lambda: [0.02, 0.3])
    frame_ms: list = field(default_factory=lambda: [10.0, 120.0])  # packet length [min, max]
    mean_burst_frames: Range = field(default_factory=lambda: [1.0, 4.0])
    repeat_fraction: float = 0.4  # share that repeat the last good frame instead of zeroing


@dataclass
class BandLimitConfig:
    p: float = 0.2
    telephone_fraction: float = 0.35  # the rest are low-pass filters
    telephone_band_hz: list = field(default_factory=lambda: [300.0, 3400.0])
    lowpass_hz: Range = field(default_factory=lambda: [6000.0, 2000.0])


@dataclass
class CodecConfig:
    p: float = 0.2
    formats: dict = field(default_factory=lambda: {"mp3": 0.6, "opus": 0.4})
    mp3_kbps: Range = field(default_factory=lambda: [32.0, 8.0])
    opus_kbps: Range = field(default_factory=lambda: [24.0, 6.0])


@dataclass
class HumConfig:
    p: float = 0.1
    mains_hz: list = field(default_factory=lambda: [50.0, 60.0])
    harmonics: list = field(default_factory=lambda: [1, 8])  # [min, max] number of partials
    snr_db: Range = field(default_factory=lambda: [35.0, 5.0])


@dataclass
class GainConfig:
    p: float = 0.25
    gain_db: list = field(default_factory=lambda: [-25.0, 10.0])  # uniform, not severity-ordered
    dc_offset_p: float = 0.2
    dc_offset: Range = field(default_factory=lambda: [0.005, 0.1])


@dataclass
class AugmentConfig:
    """Clean-speech augmentation (new pseudo-speakers). Used by :meth:`Degrader.augment`, never
    by the damage chain: it changes the *target*, so it runs before pairing."""

    speed_p: float = 0.3
    speed: list = field(default_factory=lambda: [0.9, 1.1])
    tempo_p: float = 0.2
    tempo: list = field(default_factory=lambda: [0.85, 1.15])
    pitch_p: float = 0.3
    pitch_semitones: list = field(default_factory=lambda: [-3.0, 3.0])
    # Praat "Change gender" (PSOLA): formants and pitch moved independently, so a female voice
    # can become a plausible male one (pitch shift alone moves the formants with the pitch).
    voice_p: float = 0.0
    formant_ratio: list = field(default_factory=lambda: [0.82, 1.18])
    pitch_median_hz: list = field(default_factory=lambda: [85.0, 260.0])


_SECTIONS = {
    "noise": NoiseConfig, "reverb": ReverbConfig, "clipping": ClippingConfig,
    "dropouts": DropoutConfig, "band_limit": BandLimitConfig, "codec": CodecConfig,
    "hum": HumConfig, "gain": GainConfig, "augment": AugmentConfig,
}
# Order in which damages are applied: the acoustic scene first (room, noise, hum), then the
# recording chain (microphone band, level, ADC clipping), then transmission (codec, packets).
DAMAGE_ORDER = ("reverb", "noise", "hum", "band_limit", "gain", "clipping", "codec", "dropouts")


@dataclass
class DegradationConfig:
    """Everything a :class:`~msar_hf.data.degradations.Degrader` needs.

    ``p_clean`` of the examples get no damage at all (identity pairs, "do no harm"),
    ``p_mild`` get one damage at a severity up to ``mild_severity``; the rest get each damage
    with its own probability ``p`` (at least one). Sections may be given as dicts.
    """

    noise_dir: str | None = DEFAULT_NOISE_DIR
    rir_dir: str | None = DEFAULT_RIR_DIR
    speech_dir: str | None = None  # babble source; None disables babble
    noise_include: list = field(default_factory=list)  # fnmatch patterns on file names; [] = all
    noise_exclude: list = field(default_factory=list)  # held-out noises (evaluation only)
    rir_include: list = field(default_factory=list)
    rir_exclude: list = field(default_factory=list)
    speech_exclude: list = field(default_factory=list)
    babble_max_files: int = 300  # babble clips kept in memory (spread over the folder)

    p_clean: float = 0.1
    p_mild: float = 0.2
    mild_severity: float = 0.3

    noise: NoiseConfig = field(default_factory=NoiseConfig)
    reverb: ReverbConfig = field(default_factory=ReverbConfig)
    clipping: ClippingConfig = field(default_factory=ClippingConfig)
    dropouts: DropoutConfig = field(default_factory=DropoutConfig)
    band_limit: BandLimitConfig = field(default_factory=BandLimitConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    hum: HumConfig = field(default_factory=HumConfig)
    gain: GainConfig = field(default_factory=GainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            value = getattr(self, name)
            if isinstance(value, dict):
                known = {f.name for f in dataclasses.fields(cls)}
                unknown = sorted(set(value) - known)
                if unknown:
                    raise DegradationConfigError(
                        f"degradation config: unknown key(s) {unknown} in section '{name}' "
                        f"(known: {sorted(known)})")
                setattr(self, name, cls(**value))
            elif value is None:
                setattr(self, name, cls(p=0.0) if "p" in {f.name for f in dataclasses.fields(cls)} else cls())
            elif not isinstance(value, cls):
                raise DegradationConfigError(f"degradation config: section '{name}' must be a mapping")
        self.validate()

    # ------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`DegradationConfigError` naming the first bad value."""
        def prob(where: str, value: Any) -> None:
            if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
                raise DegradationConfigError(f"degradation config: {where} must be a probability in [0, 1], got {value!r}")

        prob("p_clean", self.p_clean)
        prob("p_mild", self.p_mild)
        prob("mild_severity", self.mild_severity)
        if self.p_clean + self.p_mild > 1.0 + 1e-9:
            raise DegradationConfigError("degradation config: p_clean + p_mild must not exceed 1")
        for name in _SECTIONS:
            section = getattr(self, name)
            for f in dataclasses.fields(section):
                value = getattr(section, f.name)
                if f.name == "p" or f.name.endswith("_p") or (
                        f.name.endswith("_fraction") and not isinstance(value, list)):
                    prob(f"{name}.{f.name}", value)
                elif (isinstance(value, list) and value and len(value) != 2
                      and all(isinstance(v, (int, float)) for v in value)) or (
                        # A range of strings ('snr_db: [low, high]') or a bare number passed
                        # here and failed at the first draw, deep inside a training run.
                        _is_range_field(f) and not _is_number_pair(value)):
                    raise DegradationConfigError(
                        f"degradation config: {name}.{f.name} must be a two-element range of numbers, got {value!r}")
                elif isinstance(value, dict) and (
                        not value or any(not isinstance(w, (int, float)) or w < 0 for w in value.values())):
                    raise DegradationConfigError(
                        f"degradation config: {name}.{f.name} must map names to non-negative weights")
        unknown_kinds = set(self.noise.kinds) - set(NOISE_KINDS)
        if unknown_kinds:
            raise DegradationConfigError(f"degradation config: unknown noise kinds {sorted(unknown_kinds)}")
        unknown_codecs = set(self.codec.formats) - {"mp3", "opus"}
        if unknown_codecs:
            raise DegradationConfigError(f"degradation config: unknown codecs {sorted(unknown_codecs)} (mp3, opus)")
        unknown_colours = set(self.noise.colours) - set(COLOUR_EXPONENTS)
        if unknown_colours:
            raise DegradationConfigError(
                f"degradation config: unknown noise colours {sorted(unknown_colours)} ({sorted(COLOUR_EXPONENTS)})")
        # Lists a draw picks from: empty or zero, they failed (or did nothing) only at draw time.
        if not self.noise.colours and self.noise.kinds.get("coloured", 0) > 0:
            raise DegradationConfigError("degradation config: noise.colours is empty while noise.kinds gives "
                                         "'coloured' a weight; name a colour or set that weight to 0")
        if not self.hum.mains_hz or any(not isinstance(v, (int, float)) or not v > 0 for v in self.hum.mains_hz):
            raise DegradationConfigError(f"degradation config: hum.mains_hz must list mains frequencies in Hz "
                                         f"(e.g. [50, 60]), got {self.hum.mains_hz!r}")
        for where, counts in (("noise.babble_talkers", self.noise.babble_talkers), ("hum.harmonics", self.hum.harmonics)):
            if len(counts) != 2 or not 1 <= counts[0] <= counts[1]:
                raise DegradationConfigError(f"degradation config: {where} must be [min, max] with 1 <= min <= max, "
                                             f"got {counts!r}")

    # ------------------------------------------------------------------------------------
    def held_out(self) -> DegradationConfig:
        """The evaluation twin of a training config: only the noises and RIRs this config
        excludes (``noise_exclude`` -> ``noise_include``, same for RIRs), so an evaluation set
        uses sounds and rooms the model never heard."""
        if not self.noise_exclude and not self.rir_exclude:
            raise DegradationConfigError("degradation config: no held-out noises or RIRs "
                                         "(noise_exclude / rir_exclude are empty)")
        data = self.to_dict()
        data.update(noise_include=list(self.noise_exclude), noise_exclude=[],
                    rir_include=list(self.rir_exclude), rir_exclude=[])
        return DegradationConfig.from_dict(data)

    def to_dict(self) -> dict:
        """Plain JSON/YAML-serialisable dict; ``DegradationConfig(**cfg.to_dict())`` round-trips."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict | None) -> DegradationConfig:
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DegradationConfigError(f"degradation config: unknown key(s) {unknown} (known: {sorted(known)})")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> DegradationConfig:
        """Read a YAML file (a ``degradations:`` top-level key is accepted too)."""
        import yaml

        path = Path(path)
        if not path.is_file():
            raise DegradationConfigError(f"{path}: degradation config file not found")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise DegradationConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
        if isinstance(data, dict) and set(data) == {"degradations"}:
            data = data["degradations"]
        if data is not None and not isinstance(data, dict):
            raise DegradationConfigError(f"{path}: a degradation config must be a mapping")
        try:
            return cls.from_dict(data)
        except DegradationConfigError as exc:
            raise DegradationConfigError(f"{path}: {exc}") from exc
        except TypeError as exc:
            raise DegradationConfigError(f"{path}: {exc}") from exc

    def to_yaml(self, path: str | os.PathLike) -> Path:
        import yaml

        path = Path(path)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path



def _is_range_field(f: dataclasses.Field) -> bool:
    """A field whose default is a ``[number, number]`` range."""
    return f.default_factory is not dataclasses.MISSING and _is_number_pair(f.default_factory())


def _is_number_pair(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value))


def resolve_folder(value: str | None, what: str) -> Path | None:
    """Expand ``${MSAR_DATA_ROOT}``/``~`` in a folder key. A missing folder raises, except the
    untouched default (a user's clone has no ``../shared``), which returns None with a warning."""
    if value in (None, ""):
        return None
    env = dict(os.environ)
    env.setdefault(DATA_ROOT_ENV, DEFAULT_DATA_ROOT)
    expanded = str(value).replace("${" + DATA_ROOT_ENV + "}", env[DATA_ROOT_ENV])
    path = Path(os.path.expanduser(os.path.expandvars(expanded)))
    if path.is_dir():
        return path
    if "${" + DATA_ROOT_ENV + "}" in str(value):
        import warnings

        warnings.warn(f"{what} folder {path} does not exist (set {DATA_ROOT_ENV} or the '{what}_dir' "
                      f"config key); continuing without it", stacklevel=3)
        return None
    raise DegradationConfigError(f"{path}: {what} folder does not exist (config key '{what}_dir'; "
                                 f"set it to null to do without)")
