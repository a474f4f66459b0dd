"""Degradation engine on real recordings: each damage does what it says, measurably."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from scipy.signal import welch

from msar_hf.audio import load_audio
from msar_hf.data.degradations import (
    DAMAGE_ORDER,
    NOISE_KINDS,
    DegradationConfig,
    DegradationConfigError,
    DegradationInputError,
    Degrader,
    add_noise,
    band_limit,
    change_voice,
    clip_hard,
    clip_soft,
    codec,
    coloured_noise,
    dropouts,
    gilbert_elliott_mask,
    low_pass,
    pitch_shift,
    reverberate,
    speed_perturb,
    telephone,
    tempo_perturb,
)

SR = 16000


def db(x: float) -> float:
    return 10 * np.log10(max(x, 1e-30))


def power(x) -> float:
    return float(np.mean(np.square(np.asarray(x, np.float64))))


@pytest.fixture(scope="module")
def speech(speech_files) -> np.ndarray:
    """~6 s of real speech: two kathleen utterances back to back."""
    return np.concatenate([load_audio(p)[0].numpy() for p in speech_files[:2]])


@pytest.fixture(scope="module")
def noises(noise_files) -> list[np.ndarray]:
    return [load_audio(p)[0].numpy() for p in noise_files]


@pytest.fixture(scope="module")
def rirs(rir_files) -> dict[str, np.ndarray]:
    return {p.stem: load_audio(p)[0].numpy() for p in rir_files}


@pytest.fixture(scope="module")
def config(fixtures_dir) -> DegradationConfig:
    return DegradationConfig(noise_dir=str(fixtures_dir / "noise"), rir_dir=str(fixtures_dir / "rir"),
                             speech_dir=str(fixtures_dir / "speech" / "fsdd"), reverb={"pool_size": 6})


@pytest.fixture(scope="module")
def degrader(config) -> Degrader:
    return Degrader(config)


def every_damage(config: DegradationConfig) -> DegradationConfig:
    """The config with every damage always on, so one call exercises the whole chain."""
    data = config.to_dict()
    data.update(p_clean=0.0, p_mild=0.0)
    for kind in DAMAGE_ORDER:
        data[kind]["p"] = 1.0
    return DegradationConfig.from_dict(data)


# ---- additive noise --------------------------------------------------------------------------
@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 10.0, 25.0])
def test_add_noise_hits_requested_snr(speech, noises, snr_db):
    for noise in noises:
        noisy = add_noise(speech, noise, snr_db, start=1234)
        assert noisy.shape == speech.shape
        measured = db(power(speech) / power(noisy - speech))
        assert abs(measured - snr_db) < 0.5, (snr_db, measured)


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_degrader_noise_kinds_hit_recorded_snr(config, speech, kind):
    data = config.to_dict()
    data["noise"]["kinds"] = {kind: 1.0}
    deg = Degrader(DegradationConfig.from_dict(data))
    for index, severity in enumerate([0.1, 0.5, 0.9]):
        out, record = deg.apply("noise", speech, seed=5, index=index, severity=severity)
        (step,) = record["steps"]
        assert step["kind"] == kind
        measured = db(power(speech) / power(out.numpy() - speech))
        assert abs(measured - step["snr_db"]) < 0.5, (kind, step, measured)
        json.dumps(record)


def _centroid_hz(x: np.ndarray, rate: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    return float((np.fft.rfftfreq(x.size, 1 / rate) * spectrum).sum() / spectrum.sum())


def test_recorded_noise_played_at_another_speed_moves_its_spectrum(config, speech):
    data = config.to_dict()
    data["noise"]["kinds"] = {"file": 1.0}
    plain = Degrader(DegradationConfig.from_dict(data))
    data["noise"].update(file_speed_p=1.0, file_speed=[1.4, 1.4])
    faster = Degrader(DegradationConfig.from_dict(data))
    data["noise"]["file_speed"] = [0.7, 0.7]
    slower = Degrader(DegradationConfig.from_dict(data))
    ratios = []
    for index in range(3):
        runs = [d.apply("noise", speech, seed=9, index=index, severity=0.5) for d in (plain, faster, slower)]
        (base_step,), (fast_step,), (slow_step,) = (r[1]["steps"] for r in runs)
        # the same recording, read from the same place, at the same SNR: only the speed differs
        assert fast_step["file"] == base_step["file"] and fast_step["start"] == base_step["start"]
        assert (fast_step["speed"], slow_step["speed"], "speed" in base_step) == (1.4, 0.7, False)
        noise = [out.numpy() - speech for out, _ in runs]
        assert all(n.shape == speech.shape and np.isfinite(n).all() for n in noise)
        ratios.append((_centroid_hz(noise[1]) / _centroid_hz(noise[0]), _centroid_hz(noise[2]) / _centroid_hz(noise[0])))
        assert abs(db(power(speech) / power(noise[1])) - fast_step["snr_db"]) < 0.5
    # real recordings are not pure tones: their centroid follows the speed, give or take
    fast, slow = np.mean(ratios, axis=0)
    assert 1.15 < fast < 1.6 and 0.6 < slow < 0.9, ratios


def test_noise_speed_off_by_default_keeps_the_random_stream(config, speech):
    """file_speed_p = 0 draws nothing: existing datasets stay bit-identical."""
    data = config.to_dict()
    assert data["noise"]["file_speed_p"] == 0.0
    data["noise"]["kinds"] = {"file": 1.0}
    a, record = Degrader(DegradationConfig.from_dict(data)).apply("noise", speech, seed=3, index=1)
    data["noise"]["file_speed"] = [0.5, 2.0]  # irrelevant while the share is 0
    b, _ = Degrader(DegradationConfig.from_dict(data)).apply("noise", speech, seed=3, index=1)
    assert torch.equal(a, b) and "speed" not in record["steps"][0]


def test_coloured_noise_has_the_requested_spectral_slope():
    rng = np.random.default_rng(0)
    expected = {"white": 0.0, "pink": -3.0, "brown": -6.0, "blue": 3.0}  # dB per octave
    for colour, slope in expected.items():
        f, pxx = welch(coloured_noise(SR * 8, colour, rng), fs=SR, nperseg=4096)
        band = (f > 100) & (f < 6000)
        fitted = np.polyfit(np.log2(f[band]), 10 * np.log10(pxx[band]), 1)[0]
        assert abs(fitted - slope) < 0.6, (colour, fitted)


def test_shaped_noise_is_steady_and_peaks_where_it_says():
    """The 'shaped' kind: steady noise under a random smooth spectrum (no power-law colour has a
    peak): its frame levels stay within a few dB, each resonance it records stands over the
    spectrum an octave away, and the speech-shaped kind falls ~9 dB per octave above 500 Hz."""
    from msar_hf.data.degradations.noise import shaped_noise

    rng = np.random.default_rng(3)
    seen_speech_like = seen_bumps = 0
    for _ in range(12):
        x, info = shaped_noise(SR * 6, SR, rng)
        assert x.dtype == np.float32 and abs(power(x) - 1.0) < 1e-3
        frames = x[: x.size // 8000 * 8000].reshape(-1, 8000)
        levels = 10 * np.log10((frames.astype(np.float64) ** 2).mean(1))
        assert levels.std() < 3.0, info  # steady: a narrow resonance's 0.5 s levels still scatter a little
        f, pxx = welch(x, fs=SR, nperseg=4096)

        def level(hz, f=f, pxx=pxx):
            return 10 * np.log10(np.interp(hz, f, pxx))

        for centre, width, height in info["bumps"]:
            if height >= 15 and 200 <= centre <= 3000 and width <= 1.0 and len(info["bumps"]) == 1:
                seen_bumps += 1
                assert level(centre) > max(level(centre / 2 ** 1.5), level(centre * 2 ** 1.5)), info
        if info["speech_like"] and not info["bumps"]:
            seen_speech_like += 1
            assert 12 < level(600) - level(2400) < 24, info  # two octaves at -9 dB each
    assert seen_speech_like + seen_bumps > 0


def test_hum_puts_energy_on_mains_harmonics(degrader, speech):
    silence = np.zeros(SR * 2, np.float32)
    out, record = degrader.apply("hum", silence, seed=1, severity=1.0)
    step = record["steps"][0]
    f, pxx = welch(out.numpy(), fs=SR, nperseg=SR)
    peak_hz = f[np.argmax(pxx)]
    assert any(abs(peak_hz - p) <= 1 for p in step["partials_hz"]), (peak_hz, step)
    assert step["mains_hz"] in (50.0, 60.0) and step["partials_hz"][0] == step["mains_hz"]


# ---- level --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fraction", [0.002, 0.01, 0.05, 0.2])
def test_hard_clipping_clips_the_requested_fraction(speech, fraction):
    out = clip_hard(speech, fraction)
    rail = np.abs(out).max()
    clipped = float(np.mean(np.abs(out) >= rail * (1 - 1e-6)))
    assert abs(clipped - fraction) <= 0.1 * fraction + 5e-4, (fraction, clipped)
    untouched = np.abs(speech) < rail
    assert np.array_equal(out[untouched], speech[untouched])


def test_soft_clipping_saturates_and_keeps_loudness(speech):
    out = clip_soft(speech, 0.8)
    crest_in = np.abs(speech).max() / np.sqrt(power(speech))
    crest_out = np.abs(out).max() / np.sqrt(power(out))
    assert crest_out < 0.6 * crest_in
    assert abs(db(power(out) / power(speech))) < 0.1


# ---- dropouts ------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [0.05, 0.15, 0.3])
def test_dropout_rate_within_two_points(speech, rate):
    frame = SR * 20 // 1000
    out = dropouts(speech, SR, np.random.default_rng(3), loss_rate=rate, frame_ms=20, mean_burst=3, mode="zero")
    n = speech.size // frame
    lost = (out[: n * frame].reshape(n, frame) == 0).all(1) & ~(speech[: n * frame].reshape(n, frame) == 0).all(1)
    assert abs(lost.mean() - rate) <= 0.02, (rate, lost.mean())


def test_dropout_repeat_mode_repeats_the_last_good_frame(speech):
    frame = SR * 30 // 1000
    out = dropouts(speech, SR, np.random.default_rng(4), loss_rate=0.2, frame_ms=30, mean_burst=2, mode="repeat")
    n = speech.size // frame
    a, b = speech[: n * frame].reshape(n, frame), out[: n * frame].reshape(n, frame)
    changed = ~(a == b).all(1)
    assert 0.15 < changed.mean() <= 0.22
    for i in np.flatnonzero(changed):
        if i > 0:
            assert np.array_equal(b[i], b[i - 1])  # a concealed frame copies the one before it


def test_gilbert_elliott_bursts_have_the_requested_mean_length():
    rng = np.random.default_rng(0)
    runs = []
    for _ in range(20):
        mask = gilbert_elliott_mask(2000, 0.2, 3.0, rng)
        assert mask.sum() == 400
        edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(int), 0]))
        runs += list(edges[1::2] - edges[::2])
    assert 2.5 < np.mean(runs) < 3.5


# ---- channel -------------------------------------------------------------------------------------
def band_energy(x: np.ndarray, lo: float, hi: float) -> float:
    f, pxx = welch(x, fs=SR, nperseg=2048)
    return float(pxx[(f >= lo) & (f <= hi)].sum())


@pytest.mark.parametrize("cutoff", [2000.0, 3500.0, 6000.0])
def test_low_pass_removes_energy_above_cutoff(speech, cutoff):
    out = low_pass(speech, cutoff, SR)
    above_in = band_energy(speech, cutoff + 20, SR / 2)
    above_out = band_energy(out.astype(np.float64), cutoff + 20, SR / 2)
    assert db(above_out / above_in) <= -40, db(above_out / above_in)
    below = (200, 0.7 * cutoff)
    assert abs(db(band_energy(out, *below) / band_energy(speech, *below))) < 0.5  # pass band kept


def test_telephone_band_removes_both_sides(speech):
    out = telephone(speech, SR)
    assert db(band_energy(out, 3420, SR / 2) / band_energy(speech, 3420, SR / 2)) <= -40
    assert db(band_energy(out, 0, 280) / band_energy(speech, 0, 280)) <= -40
    assert abs(db(band_energy(out, 500, 3000) / band_energy(speech, 500, 3000))) < 0.5
    # zero phase: the filtered speech is aligned with the original
    lag = np.argmax(np.correlate(out[2000:-2000], speech[2100:-2100], "valid")) - 100
    assert lag == 0


@pytest.mark.parametrize("backend", ["ffmpeg", "sndfile"])
@pytest.mark.parametrize("fmt,kbps", [("mp3", 8), ("opus", 6)])
def test_codec_damages_but_stays_aligned(speech, fmt, kbps, backend):
    clip = speech[: SR * 3]
    out = codec(clip, SR, fmt, kbps, backend=backend)
    assert out.shape == clip.shape and np.isfinite(out).all()
    snr = db(power(clip) / power(out - clip))
    assert snr < 25  # audibly damaged
    lag = np.argmax(np.correlate(out[2000:-2000], clip[1900:-1900], "valid")) - 100
    assert abs(lag) <= 1
    # low bit rates drop the top of the spectrum
    assert db(band_energy(out, 6000, SR / 2) / band_energy(clip, 6000, SR / 2)) < -10


@pytest.mark.parametrize("backend", ["ffmpeg", "sndfile"])
@pytest.mark.parametrize("rate", [22050, 44100])
def test_opus_works_at_rates_opus_cannot_code(speech_file, rate, backend):
    """Opus codes only 8/12/16/24/48 kHz: both backends raised at 22.05/44.1 kHz, so a Degrader
    at those rates crashed on its first opus draw."""
    clip = load_audio(speech_file, sampling_rate=rate)[0].numpy()[: rate * 2]
    out = codec(clip, rate, "opus", 6, backend=backend)
    assert out.shape == clip.shape and np.isfinite(out).all()
    assert db(power(clip) / power(out - clip)) < 25  # damaged
    lag = np.argmax(np.correlate(out[2000:-2000], clip[1900:-1900], "valid")) - 100
    assert abs(lag) <= 1
    deg = Degrader(DegradationConfig(noise_dir=None, rir_dir=None, codec={"formats": {"opus": 1.0}}), sampling_rate=rate)
    assert deg.apply("codec", clip, seed=0)[0].shape == clip.shape


@pytest.mark.parametrize("backend", ["ffmpeg", "sndfile"])
def test_codec_rejects_unknown_formats_and_bit_rates_clearly(speech, backend):
    with pytest.raises(ValueError, match="'aac'.*mp3, opus"):  # was FFmpeg's "Couldn't allocate AVFormatContext" / a KeyError
        codec(speech[:SR], SR, "aac", 16, backend=backend)
    with pytest.raises(ValueError, match="bit rate"):
        codec(speech[:SR], SR, "mp3", -5, backend=backend)


@pytest.mark.parametrize("fmt,kbps", [("mp3", 16), ("opus", 8)])
def test_libsndfile_codecs_damage_speech_as_ffmpegs_do(speech, fmt, kbps):
    """The FFmpeg-free backend (rented GPU machines) must teach the model the same damage."""
    from pesq import pesq

    clip = speech[: SR * 3]
    scores = {b: pesq(SR, clip, codec(clip, SR, fmt, kbps, backend=b), "wb") for b in ("ffmpeg", "sndfile")}
    assert scores["ffmpeg"] < 3.0 and abs(scores["sndfile"] - scores["ffmpeg"]) < 0.3, scores


# ---- reverberation -------------------------------------------------------------------------------
def decay_time(x: np.ndarray, offset: int, drop_db: float = 40.0) -> float:
    """Seconds after ``offset`` until the 10-ms frame energy stays drop_db below the speech level."""
    frame = SR // 100
    n = x.size // frame
    energy = 10 * np.log10(np.square(x[: n * frame].reshape(n, frame)).mean(1) + 1e-20)
    speech_level = energy[: offset // frame].max()
    after = energy[offset // frame:]
    above = np.flatnonzero(after > speech_level - drop_db)
    return 0.0 if above.size == 0 else (above[-1] + 1) * frame / SR


def test_reverberation_lengthens_the_energy_decay(speech, rirs, degrader):
    dry = np.concatenate([speech[: SR * 2], np.zeros(SR, np.float32)])  # speech, then 1 s silence
    offset = SR * 2
    assert decay_time(dry, offset) < 0.02
    for name in ("medium_hall", "basement_clap_peter1955"):
        wet = reverberate(dry, rirs[name])
        assert wet.shape == dry.shape and np.isfinite(wet).all()
        assert decay_time(wet, offset) > 0.1, name
        assert abs(db(power(wet) / power(dry))) < 0.01  # level kept
    pool = degrader.room_pool
    short, long_ = pool[0], pool[-1]
    assert short[1]["rt60_s"] < long_[1]["rt60_s"]
    assert decay_time(reverberate(dry, long_[0]), offset) > decay_time(reverberate(dry, short[0]), offset) + 0.05


def test_reverberation_keeps_the_direct_path_aligned(rirs, degrader):
    click = np.zeros(SR, np.float32)
    click[4000] = 0.5
    for name, rir in [*rirs.items(), ("simulated", degrader.room_pool[-1][0])]:
        wet = np.abs(reverberate(click, rir, preserve_level=False))
        assert int(np.argmax(wet >= 0.3 * wet.max())) == 4000, name  # direct sound not delayed
        assert wet[:3990].max() < 0.3 * wet.max(), name  # and no echo before it


# ---- the random chain -------------------------------------------------------------------------
def test_same_seed_same_bytes_different_seed_different(config, speech):
    deg = Degrader(every_damage(config))
    clip = torch.from_numpy(speech[: SR * 3].copy())
    first, rec1 = deg(clip, seed=1234, index=7)
    assert torch.equal(clip, torch.from_numpy(speech[: SR * 3]))  # the input is never modified
    again, rec2 = deg(clip, seed=1234, index=7)
    assert torch.equal(first, again) and rec1 == rec2
    assert [s["type"] for s in rec1["steps"] if s["type"] != "peak_normalise"] == list(DAMAGE_ORDER)
    revived = pickle.loads(pickle.dumps(deg))  # a datasets worker: reloads from the config
    assert torch.equal(revived(clip, seed=1234, index=7)[0], first)
    assert not torch.equal(deg(clip, seed=1235, index=7)[0], first)
    assert not torch.equal(deg(clip, seed=1234, index=8)[0], first)
    json.dumps(rec1)


@pytest.mark.parametrize("kind", DAMAGE_ORDER)
def test_every_damage_keeps_length_and_is_finite(degrader, speech, kind):
    inputs = [speech[: SR * 2], np.zeros(SR, np.float32), speech[SR: SR + 400]]
    for i, x in enumerate(inputs):
        for severity in (0.0, 1.0):
            out, record = degrader.apply(kind, torch.from_numpy(x), seed=2, index=i, severity=severity)
            assert out.dtype == torch.float32 and out.shape == (x.size,), (kind, x.size)
            assert torch.isfinite(out).all() and out.abs().max() <= 1.0
            assert record["steps"][0]["type"] == kind
    out, _ = degrader.apply(kind, speech[: SR * 2], seed=2, severity=1.0)
    if kind != "gain":  # gain alone may be a near-identity draw
        assert not np.array_equal(out.numpy(), speech[: SR * 2]), kind


def test_identity_and_mild_pairs(config, speech):
    clip = speech[: SR * 2]
    clean_only = Degrader(DegradationConfig.from_dict({**config.to_dict(), "p_clean": 1.0, "p_mild": 0.0}))
    out, record = clean_only(clip, seed=0, index=0)
    assert record["mode"] == "clean" and record["steps"] == [] and np.array_equal(out.numpy(), clip)
    mild = Degrader(DegradationConfig.from_dict({**config.to_dict(), "p_clean": 0.0, "p_mild": 1.0}))
    for index in range(10):
        _, record = mild(clip, seed=0, index=index)
        damage = [s for s in record["steps"] if s["type"] != "peak_normalise"]
        assert record["mode"] == "mild" and len(damage) == 1 and damage[0]["severity"] <= config.mild_severity


def test_default_mix_has_clean_mild_and_full(degrader, speech):
    modes = [degrader(speech[:SR], seed=9, index=i)[1]["mode"] for i in range(150)]
    assert {"clean", "mild", "full"} <= set(modes)
    assert 0.02 < modes.count("clean") / len(modes) < 0.2


def test_held_out_noises_and_rirs_are_never_used(fixtures_dir, speech):
    cfg = DegradationConfig(noise_dir=str(fixtures_dir / "noise"), rir_dir=str(fixtures_dir / "rir"),
                            noise_exclude=["running_tap", "max_audio_*"], rir_exclude=["medium_hall.flac"],
                            reverb={"simulated_fraction": 0.0, "p": 1.0}, noise={"p": 1.0, "kinds": {"file": 1.0}})
    deg = Degrader(cfg)
    names = {n for n, _ in deg.noises}
    assert names == {"audio/blanket_coffee-shop.flac", "audio/blanket_wind.flac"}
    assert {n for n, _ in deg.rirs} == {"audio/basement_clap_peter1955.flac", "audio/rir_clap.flac"}
    used = set()
    for i in range(20):
        for step in deg(speech[:SR], seed=0, index=i)[1]["steps"]:
            used.add(step.get("file"))
    assert used - {None} <= names | {n for n, _ in deg.rirs}
    held_out = Degrader(DegradationConfig(noise_dir=str(fixtures_dir / "noise"), rir_dir=None,
                                          noise_include=["running_tap"]))
    assert [n for n, _ in held_out.noises] == ["audio/running_tap.flac"]
    with pytest.warns(UserWarning, match="'runing_tap' matches no file"):  # a typo must not pass silently
        Degrader(DegradationConfig(noise_dir=str(fixtures_dir / "noise"), rir_dir=None, noise_exclude=["runing_tap"]))


def test_config_round_trip_and_errors(tmp_path, fixtures_dir):
    from pathlib import Path

    default_yaml = Path(__file__).parent.parent / "recipes" / "configs" / "degradations.yaml"
    recipe = DegradationConfig.from_yaml(default_yaml)
    # The recipe config is the library default plus a held-out list of noises and rooms.
    assert {**recipe.to_dict(), "noise_exclude": [], "rir_exclude": []} == DegradationConfig().to_dict()
    evaluation = recipe.held_out()
    assert evaluation.noise_include == recipe.noise_exclude and evaluation.noise_exclude == []
    assert evaluation.rir_include == recipe.rir_exclude
    with pytest.raises(DegradationConfigError, match="held-out"):
        DegradationConfig().held_out()
    cfg = DegradationConfig(p_clean=0.3, noise={"snr_db": [20, 0]})
    path = cfg.to_yaml(tmp_path / "deg.yaml")
    assert DegradationConfig.from_yaml(path) == cfg
    assert DegradationConfig(**cfg.to_dict()) == cfg
    with pytest.raises(DegradationConfigError, match="unknown key"):
        DegradationConfig(noise={"snr": [1, 2]})
    with pytest.raises(DegradationConfigError, match="probability"):
        DegradationConfig(p_clean=1.5)
    with pytest.raises(DegradationConfigError, match="codecs"):
        DegradationConfig(codec={"formats": {"aac": 1.0}})
    # lists a draw picks from: refused when they leave nothing (or nonsense) to draw
    for bad_section, why in (({"noise": {"colours": []}}, "noise.colours is empty"),
                             ({"hum": {"mains_hz": []}}, "hum.mains_hz"), ({"hum": {"mains_hz": [0, 60]}}, "hum.mains_hz"),
                             ({"noise": {"babble_talkers": [0, 0]}}, "noise.babble_talkers"),
                             ({"hum": {"harmonics": [4, 2]}}, "hum.harmonics")):
        with pytest.raises(DegradationConfigError, match=why):
            DegradationConfig(**bad_section)
    DegradationConfig(noise={"colours": [], "kinds": {"file": 1.0}})  # no coloured noise drawn: fine
    bad = tmp_path / "bad.yaml"
    bad.write_text("noise: [1, 2\n")
    with pytest.raises(DegradationConfigError, match="bad.yaml"):
        DegradationConfig.from_yaml(bad)
    with pytest.raises(DegradationConfigError, match="does not exist"):
        Degrader(DegradationConfig(noise_dir=str(tmp_path / "missing"), rir_dir=None))
    with pytest.raises(DegradationInputError, match="NaN"):
        Degrader(DegradationConfig(noise_dir=None, rir_dir=None))(torch.tensor([0.0, float("nan")]), seed=0)


def test_a_named_folder_without_usable_files_is_a_clear_error(tmp_path, fixtures_dir, monkeypatch):
    """An empty noise/RIR/babble folder (or one whose files are all excluded) left the Degrader
    with synthetic damage only, without a word; a missing one already raised."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no audio here")
    for key in ("noise_dir", "rir_dir", "speech_dir"):
        cfg = {"noise_dir": None, "rir_dir": None, key: str(empty)}
        with pytest.raises(DegradationConfigError, match=f"{empty}: no usable {key[:-4]} files"):
            Degrader(DegradationConfig(**cfg))
    with pytest.raises(DegradationConfigError, match="no usable noise files"), pytest.warns(UserWarning):
        Degrader(DegradationConfig(noise_dir=str(fixtures_dir / "noise"), rir_dir=None, noise_include=["nothing_*"]))
    monkeypatch.setenv("MSAR_DATA_ROOT", str(tmp_path))  # the untouched default: a warning, as when missing
    (tmp_path / "noise").mkdir()
    with pytest.warns(UserWarning, match="no usable noise files"):
        Degrader(DegradationConfig(rir_dir=None))


@pytest.mark.parametrize("bad", ["abc", ["low", "high"], [1.0, None], [0.0, float("nan")], 5.0])
def test_a_range_that_is_not_two_numbers_is_rejected_when_the_config_is_made(bad):
    """Such ranges were accepted and failed at the first draw (lerp's float('low'))."""
    with pytest.raises(DegradationConfigError, match="noise.snr_db must be a two-element range of numbers"):
        DegradationConfig(noise={"snr_db": bad})
    with pytest.raises(DegradationConfigError, match="band_limit.lowpass_hz"):
        DegradationConfig(band_limit={"lowpass_hz": bad})


def test_unreadable_noise_file_is_skipped_and_named(tmp_path, noise_files):
    folder = tmp_path / "noise"
    folder.mkdir()
    (folder / "good.flac").write_bytes(noise_files[0].read_bytes())
    (folder / "broken.flac").write_bytes(b"fLaC" + b"\0" * 100)
    with pytest.warns(UserWarning, match="broken.flac"):
        deg = Degrader(DegradationConfig(noise_dir=str(folder), rir_dir=None))
    assert [n for n, _ in deg.noises] == ["good.flac"] and "broken.flac" in deg.skipped[0]


# ---- clean-speech augmentation -------------------------------------------------------------------
def median_f0(x: np.ndarray) -> float:
    import pyworld

    f0, _ = pyworld.dio(x.astype(np.float64), SR, frame_period=10)
    return float(np.median(f0[f0 > 0]))


def test_speed_tempo_and_pitch_perturbation(speech):
    clip = speech[: SR * 3]
    f0 = median_f0(clip)
    fast = speed_perturb(clip, 1.1, SR)
    assert abs(fast.size - clip.size / 1.1) <= 2
    assert abs(median_f0(fast) / f0 - 1.1) < 0.05
    slower = tempo_perturb(clip, 0.8, SR)
    assert abs(slower.size / (clip.size / 0.8) - 1) < 0.02
    assert abs(median_f0(slower) / f0 - 1) < 0.05
    higher = pitch_shift(clip, 3.0, SR)
    assert higher.size == clip.size
    assert abs(median_f0(higher) / f0 - 2 ** (3 / 12)) < 0.05


def envelope_centroid(x: np.ndarray) -> float:
    """Centroid (Hz, 0-5 kHz) of the mean WORLD spectral envelope of the voiced frames: where the
    formants sit, whatever the pitch."""
    import pyworld

    x = x.astype(np.float64)
    f0, t = pyworld.harvest(x, SR)
    envelope = pyworld.cheaptrick(x, f0, t, SR)[f0 > 0].mean(0)
    freqs = np.linspace(0, SR / 2, envelope.size)
    band = freqs < 5000
    return float((freqs[band] * envelope[band]).sum() / envelope[band].sum())


def test_change_voice_moves_formants_and_pitch_independently(speech):
    """Praat's Change gender on real speech: a much lower pitch with the formants nearly kept (a
    signalsmith pitch shift moves them as far as the pitch), and formants lowered on their own."""
    clip = speech[: SR * 3]
    f0, formants = median_f0(clip), envelope_centroid(clip)
    low_pitch = change_voice(clip, 1.0, 0.6 * f0, SR)
    assert low_pitch.shape == clip.shape and np.isfinite(low_pitch).all()
    assert abs(median_f0(low_pitch) / (0.6 * f0) - 1) < 0.1
    assert abs(envelope_centroid(low_pitch) / formants - 1) < 0.2
    assert envelope_centroid(pitch_shift(clip, 12 * np.log2(0.6), SR)) / formants < 0.75
    longer_tract = change_voice(clip, 0.85, f0, SR)
    assert abs(median_f0(longer_tract) / f0 - 1) < 0.1
    assert abs(envelope_centroid(longer_tract) / formants - 0.85) < 0.04
    silence = np.zeros(SR, np.float32)  # nothing voiced: returned unchanged, no Praat error
    assert np.array_equal(change_voice(silence, 0.9, 110.0, SR), silence)


def test_degrader_augment_is_reproducible(config, speech):
    data = config.to_dict()
    data["augment"].update(speed_p=1.0, tempo_p=1.0, pitch_p=1.0)
    deg = Degrader(DegradationConfig.from_dict(data))
    a, rec = deg.augment(speech[: SR * 2], seed=3, index=1)
    b, _ = deg.augment(speech[: SR * 2], seed=3, index=1)
    assert torch.equal(a, b) and [s["type"] for s in rec["steps"]] == ["speed", "tempo", "pitch"]
    assert torch.isfinite(a).all()
    data["augment"].update(speed_p=0.0, tempo_p=0.0, pitch_p=0.0, voice_p=1.0)
    voice, rec = Degrader(DegradationConfig.from_dict(data)).augment(speech[: SR * 2], seed=3, index=1)
    (step,) = rec["steps"]
    assert step["type"] == "voice" and 0.82 <= step["formant_ratio"] <= 1.18 and voice.shape == (SR * 2,)


def test_voice_change_is_reproducible_from_the_seed(config, speech):
    """Praat's Change gender draws from Praat's own random generator (unseeded: every call
    differed by up to 0.6 of full scale), so (seed, index) must seed it too."""
    clip = speech[: SR * 2]
    assert np.array_equal(change_voice(clip, 1.12, 115.0, SR), change_voice(clip, 1.12, 115.0, SR))
    assert not np.array_equal(change_voice(clip, 1.12, 115.0, SR, seed=1), change_voice(clip, 1.12, 115.0, SR, seed=2))
    data = config.to_dict()
    data["augment"].update(speed_p=0.0, tempo_p=0.0, pitch_p=0.0, voice_p=1.0)
    deg = Degrader(DegradationConfig.from_dict(data))
    a, rec_a = deg.augment(clip, seed=3, index=1)
    b, rec_b = deg.augment(clip, seed=3, index=1)
    assert torch.equal(a, b) and rec_a == rec_b
    assert not torch.equal(deg.augment(clip, seed=3, index=2)[0], a)


def test_band_limit_on_8khz_audio_stays_below_nyquist(config, fsdd_file):
    x, _ = load_audio(fsdd_file, sampling_rate=8000)
    deg = Degrader(DegradationConfig.from_dict({**config.to_dict(), "speech_dir": None}), sampling_rate=8000)
    for index in range(6):
        out, _ = deg.apply("band_limit", x, seed=0, index=index)
        assert out.shape == x.shape and torch.isfinite(out).all()
    assert band_limit(x.numpy(), 8000, high_hz=3000).shape == x.shape
    for low, high in ((None, 0.0), (None, -100.0), (3000.0, 300.0), (-5.0, 3000.0)):
        with pytest.raises(ValueError, match="band_limit: need 0 <= low_hz < high_hz"):  # was scipy's own error or a no-op
            band_limit(x.numpy(), 8000, low_hz=low, high_hz=high)


def test_default_folders_missing_fall_back_to_synthetic_damage(tmp_path, monkeypatch, speech):
    monkeypatch.setenv("MSAR_DATA_ROOT", str(tmp_path))  # a user's clone: no shared data
    with pytest.warns(UserWarning, match="noise folder"):
        deg = Degrader(DegradationConfig(reverb={"pool_size": 2}))
    assert deg.noises == [] and deg.rirs == []
    kinds = set()
    for index in range(12):
        out, record = deg.apply("noise", speech[:SR], seed=0, index=index)
        kinds.add(record["steps"][0]["kind"])
        assert torch.isfinite(out).all()
    assert kinds <= {"modulated", "coloured", "impulsive", "music"}
    assert deg.apply("reverb", speech[:SR], seed=0)[1]["steps"][0]["source"] == "simulated"
