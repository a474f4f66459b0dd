"""The repair autoencoder: forward/loss on real fixtures, chunked repair(), strength, save/load
through the Auto* classes and through remote code, the speech-repair pipeline, and (once it ships)
the trained default's do-no-harm behaviour on clean speech."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import msar_hf
from msar_hf.audio import load_audio
from msar_hf.models.autoencoder import (
    MsarAutoencoderConfig,
    MsarAutoencoderFeatureExtractor,
    MsarAutoencoderModel,
    MsarAutoencoderOutput,
)
from msar_hf.models.autoencoder.modeling_msar_autoencoder import si_sdr

SHIPPED = Path(msar_hf.__file__).parent / "pretrained" / "repair"
SMALL = {"hidden_size": 32, "encoder_layers": 1, "lstm_layers": 1, "lstm_hidden_size": 32}


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _noisy(clean: torch.Tensor, noise_file: Path, snr_db: float = 5.0) -> torch.Tensor:
    noise, _ = load_audio(noise_file)
    noise = noise.repeat(clean.numel() // noise.numel() + 1)[: clean.numel()]
    scale = clean.pow(2).mean().sqrt() / noise.pow(2).mean().sqrt() / 10 ** (snr_db / 20)
    return clean + scale * noise


def _perturbed(config: MsarAutoencoderConfig, seed: int = 0) -> MsarAutoencoderModel:
    """A model that is not the identity (the fresh model is, by design)."""
    torch.manual_seed(seed)
    model = MsarAutoencoderModel(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return model


def _sisdr(est, ref) -> float:
    return float(si_sdr(torch.as_tensor(est)[None].float(), torch.as_tensor(ref)[None].float())[0])


def test_config_contract():
    cfg = MsarAutoencoderConfig()
    assert (cfg.speaker_embedding_dim, cfg.sampling_rate, cfg.causal) == (192, 16000, False)
    assert MsarAutoencoderConfig(causal=True).causal is True
    with pytest.raises(ValueError):
        MsarAutoencoderConfig(bottleneck="transformer")


def test_forward_shapes_and_loss_on_real_speech(speech_files, noise_files):
    clean = torch.stack([load_audio(f)[0][:24000] for f in speech_files[:2]])
    noisy = torch.stack([_noisy(c, noise_files[0]) for c in clean])
    model = MsarAutoencoderModel(MsarAutoencoderConfig(**SMALL))
    out = model(noisy, labels=clean)
    assert isinstance(out, MsarAutoencoderOutput)
    assert out.waveform.shape == noisy.shape and out.waveform is out[0]  # waveform first
    assert torch.isfinite(out.loss) and set(out.loss_terms) >= {"mrstft", "sisdr", "complex"}
    # a fresh model starts as the identity: output == input, so repairing noisy speech has a
    # clearly larger loss than "repairing" clean speech
    assert torch.allclose(out.waveform, noisy, atol=1e-4)
    assert float(model(clean, labels=clean).loss) < float(out.loss) - 0.5
    # training steps on the real pair reduce the loss
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        loss = model(noisy, labels=clean).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0]


def test_cpu_inference_stft_takes_the_fft_and_matches_the_convolutions(speech_files):
    """Without autograd on a CPU, stft/istft run through torch.fft (a tenth of a repair's time saved);
    training, export and accelerators keep the DFT convolutions. Both give the same spectrum and
    the same resynthesis of real speech, batched, and each inverts the other's."""
    from msar_hf.models.autoencoder.modeling_msar_autoencoder import istft, stft

    speech = torch.stack([load_audio(f)[0][:24000] for f in speech_files[:2]])
    for n_fft, hop in ((512, 256), (512, 128)):
        conv = stft(speech, n_fft, hop)  # autograd on: the convolutions
        with torch.no_grad():
            fft = stft(speech, n_fft, hop)
            assert fft.shape == conv.shape
            assert (fft - conv).abs().max() < 1e-5 * conv.abs().max()
            back = istft(conv, speech.shape[-1], n_fft, hop)
            assert (back - speech).abs().max() < 1e-5
        assert (istft(fft, speech.shape[-1], n_fft, hop) - back).abs().max() < 1e-5
    # a repair's output does not depend on the path beyond float rounding
    model = _perturbed(MsarAutoencoderConfig(**SMALL)).eval()  # not the identity a fresh model is
    with torch.no_grad():
        fast = model(speech).waveform
    slow = model(speech).waveform.detach()
    assert (fast - slow).abs().max() < 1e-4 * slow.abs().max()


def test_band_aware_loss_ignores_the_estimate_above_the_targets_band(fsdd_file, speech_file):
    """An 8 kHz recording as target: with its bandwidth given, content the model puts above 4 kHz
    costs nothing (it is not taught to empty that band); without it, it does. Below the band the
    loss still sees every difference."""
    from msar_hf.models.autoencoder.modeling_msar_autoencoder import band_limit, stft

    target = load_audio(fsdd_file, sampling_rate=16000)[0][None]  # upsampled: nothing above 4 kHz
    model = MsarAutoencoderModel(MsarAutoencoderConfig(**SMALL))
    full_band = load_audio(speech_file)[0][: target.shape[-1]][None]
    # kathleen above 4.3 kHz (a margin, so STFT window leakage stays out of the <= 4 kHz bins)
    top = full_band - band_limit(full_band, torch.tensor([4300.0]), 16000)
    estimate = target + 0.5 * top * target.std() / top.std()
    bandwidth = torch.tensor([4000.0])

    def loss(est, bw):
        spectrum = stft(est, model.config.n_fft, model.config.hop_length)
        return float(sum(model.compute_loss(est, spectrum, target, bw).values()))

    exact = loss(target, bandwidth)
    cost_full = loss(estimate, None) - loss(target, None)
    cost_band = loss(estimate, bandwidth) - exact  # only STFT window leakage below 4 kHz is left
    assert cost_full > 0.2 and abs(cost_band) < 0.25 * cost_full
    low = band_limit(0.3 * full_band[:, : target.shape[-1]], torch.tensor([3000.0]), 16000)
    assert loss(target + low, bandwidth) > exact + 0.2  # in-band errors still count
    # and the forward pass takes it per item
    out = model(torch.cat([estimate, estimate]), labels=torch.cat([target, target]),
                labels_bandwidth=torch.tensor([4000.0, 8000.0]))
    assert torch.isfinite(out.loss)


def test_lowband_loss_sees_the_fundamentals_band_only(speech_file):
    """The ``lowband`` term (Q's pitch term is decided below ~600 Hz) scores the waveform under
    ``lowband_hz``, phase included: a 2.5 ms shift of that band costs many dB, the same shift of
    everything above it costs nothing. Off by default."""
    from msar_hf.models.autoencoder.modeling_msar_autoencoder import band_limit, stft

    clean = load_audio(speech_file)[0][:32000][None]
    model = MsarAutoencoderModel(MsarAutoencoderConfig(**SMALL, loss_lowband=1.0, lowband_hz=800.0))
    low = band_limit(clean, torch.tensor([800.0]), 16000)
    high = clean - low

    def term(est):
        spectrum = stft(est, model.config.n_fft, model.config.hop_length)
        return float(model.compute_loss(est, spectrum, clean)["lowband"])

    exact = term(clean)
    assert exact < -25  # -SI-SDR, capped at 30 dB
    assert term(torch.roll(low, 40, -1) + high) > exact + 15
    assert abs(term(low + torch.roll(high, 40, -1)) - exact) < 1.0
    default = MsarAutoencoderModel(MsarAutoencoderConfig(**SMALL))
    assert "lowband" not in default(clean, labels=clean).loss_terms


def test_periodicity_loss_scores_voicing_of_quiet_and_loud_frames_alike(speech_file, noise_files):
    """The ``periodicity`` term compares normalised autocorrelations over the F0 lags in the clean
    speech's voiced frames: 0 for the clean speech, growing as noise buries the voicing, nearly blind
    to level (a 6 dB quieter copy is still voiced) but not to a muted voice, and not blind to noise
    that buries only the quietest audible frames (the frames Q's pitch term misses under noise, which
    level-weighted losses barely see). Off by default."""
    from msar_hf.models.autoencoder.modeling_msar_autoencoder import frame_loudness_db, stft

    clean = load_audio(speech_file)[0][:48000][None]
    model = MsarAutoencoderModel(MsarAutoencoderConfig(**SMALL, loss_periodicity=1.0))

    def term(est):
        spectrum = stft(est, model.config.n_fft, model.config.hop_length)
        return float(model.compute_loss(est, spectrum, clean)["periodicity"])

    noise = load_audio(noise_files[0])[0][:48000][None]
    noise = noise / noise.norm() * clean.norm()
    exact, at_20db, at_0db = term(clean), term(clean + 0.1 * noise), term(clean + noise)
    assert exact < 1e-4 < at_20db < at_0db
    assert term(0.5 * clean) < at_20db
    assert term(1e-3 * clean) > at_0db
    # noise at 0 dB local SNR under the quietest third of the clean speech's audible 20 ms frames only
    # (weak voice and the ends of words: the frames the pitch tracker misses under noise)
    loudness = frame_loudness_db(clean)[0]
    audible = loudness > loudness.max() - 40
    quiet = audible & (loudness < torch.quantile(loudness[audible], 0.33))
    frame_mask = quiet.repeat_interleave(320).float()
    frame_rms = (clean[0, : frame_mask.numel()] * frame_mask).pow(2).sum().div(frame_mask.sum()).sqrt()
    local = torch.zeros_like(clean)
    local[0, : frame_mask.numel()] = frame_mask * noise[0, : frame_mask.numel()] * frame_rms / noise.std()
    assert 10 * torch.log10(local.pow(2).sum() / clean.pow(2).sum()) < -20  # -22.6 dB: 2.6 dB under the 20 dB noise
    assert term(clean + local) > 0.4 * at_20db  # 0.57 of it with a 22 dB smaller noise
    default = MsarAutoencoderModel(MsarAutoencoderConfig(**SMALL))
    assert "periodicity" not in default(clean, labels=clean).loss_terms


def test_pesq_loss_without_torch_pesq_names_the_extra_to_install(monkeypatch):
    """Without torch-pesq, ``loss_pesq`` says what to install, by this project's distribution name
    (``msar-hf``: ``pip install 'msar[train]'`` would look for another project)."""
    import tomllib

    from msar_hf.models.autoencoder import modeling_msar_autoencoder as modeling

    dist = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["name"]
    monkeypatch.setitem(sys.modules, "torch_pesq", None)  # as if not installed
    modeling._pesq_disturbance.cache_clear()
    try:
        with pytest.raises(ImportError, match=re.escape(f"pip install '{dist}[train]'")):
            modeling._pesq_disturbance(16000, "cpu")
    finally:
        modeling._pesq_disturbance.cache_clear()


def test_pesq_loss_follows_pesq_and_skips_silent_items(speech_file, noise_files):
    """The ``pesq`` term (torch-pesq's P.862 disturbance) is ~0 for the clean target, grows with
    the noise, ranks like the reference PESQ-WB, leaves silent items out instead of giving NaN, and
    has a finite gradient. Off by default."""
    pytest.importorskip("torch_pesq")
    from pesq import pesq

    from msar_hf.models.autoencoder.modeling_msar_autoencoder import pesq_loss

    clean = load_audio(speech_file)[0][:48000]
    noisy = {snr: _noisy(clean, noise_files[0], snr) for snr in (20.0, 5.0)}
    term = {snr: float(pesq_loss(x[None], clean[None], 16000)) for snr, x in noisy.items()}
    assert float(pesq_loss(clean[None], clean[None], 16000)) < 0.05
    assert term[5.0] > term[20.0] > 0.1
    reference = {snr: pesq(16000, clean.numpy(), x.numpy(), "wb") for snr, x in noisy.items()}
    assert reference[5.0] < reference[20.0]

    silent = torch.zeros_like(clean)
    estimate = torch.stack([noisy[5.0], silent]).requires_grad_(True)
    both = pesq_loss(estimate, torch.stack([clean, clean]), 16000)
    assert abs(float(both) - term[5.0]) < 1e-3  # the silent estimate is left out
    both.backward()
    assert torch.isfinite(estimate.grad).all() and estimate.grad[0].abs().sum() > 0
    assert float(pesq_loss(silent[None], silent[None], 16000)) == 0.0
    assert "pesq" not in MsarAutoencoderModel(MsarAutoencoderConfig(**SMALL))(clean, labels=clean).loss_terms


def test_speaker_embedding_and_attention_mask(speech_file):
    clean = load_audio(speech_file)[0][:16000]
    model = _perturbed(MsarAutoencoderConfig(**SMALL))
    emb = torch.nn.functional.normalize(torch.randn(192), dim=0)
    a = model(clean[None]).waveform
    b = model(clean[None], speaker_embeddings=emb).waveform
    assert not torch.allclose(a, b)  # FiLM conditioning is live
    assert torch.allclose(a, model(clean[None], speaker_embeddings=torch.zeros(1, 192)).waveform)  # zeros = none
    with pytest.raises(ValueError):
        model(clean[None], speaker_embeddings=torch.zeros(1, 10))
    # a padded batch gives the short item the same result as on its own (level and output masked)
    fe = MsarAutoencoderFeatureExtractor()
    batch = fe([clean[:12000].numpy(), clean.numpy()], sampling_rate=16000)
    out = model(batch["input_values"], attention_mask=batch["attention_mask"]).waveform
    alone = model(clean[None, :12000]).waveform[0]
    assert out.shape == (2, 16000) and float(out[0, 12000:].abs().max()) == 0.0
    assert torch.allclose(out[0, :11000], alone[:11000], atol=2e-3)


def test_a_padded_batch_repairs_each_item_as_alone(speech_files):
    """model(**feature_extractor([long, short])) repaired the short item over its zero padding too
    (the BiLSTM read on past its end): -43 dB away from the same item alone with the shipped model."""
    model = MsarAutoencoderModel.from_pretrained(SHIPPED).eval()
    long, short = (load_audio(f)[0] for f in speech_files[:2])
    long, short = long[:40000], short[:21000]
    batch = MsarAutoencoderFeatureExtractor()([long.numpy(), short.numpy()], sampling_rate=16000)
    with torch.no_grad():
        out = model(**batch).waveform
        for i, item in enumerate((long, short)):
            alone = model(item).waveform[0]
            assert torch.allclose(out[i, : item.numel()], alone, rtol=0, atol=1e-5), i
        assert not out[1, short.numel():].any()


def test_output_hidden_states_and_return_dict_as_transformers_models(speech_files):
    """output_hidden_states=True fell into **kwargs and was ignored (no hidden states in the
    output, config.output_hidden_states too). Now the output carries hidden_states: each encoder
    block's output, the bottleneck's (after the speaker FiLM, the decoder's input) and the
    decoder's (the mask/mapping head's input), (B, frames, hidden_size) each; return_dict=False
    (or config.return_dict=False) gives the tuple, waveform first. Numbers unchanged."""
    model = MsarAutoencoderModel.from_pretrained(SHIPPED).eval()
    cfg = model.config
    long, short = (load_audio(f)[0] for f in speech_files[:2])
    long, short = long[:24000], short[:13000]
    frames = -(-long.numel() // cfg.hop_length) + 1
    seen = {}

    def keep(name, pick):  # a forward hook that records the first call's tensor, changes nothing
        def hook(module, args, output):
            seen.setdefault(name, pick(args, output))

        return hook

    hooks = [model.bottleneck.register_forward_hook(keep("bottleneck", lambda args, out: out)),
             model.head.register_forward_hook(keep("head_input", lambda args, out: args[0])),
             model.encoder[-1].register_forward_hook(keep("encoder", lambda args, out: out))]
    with torch.no_grad():
        plain = model(long)
        assert plain.hidden_states is None
        seen.clear()
        out = model(long, output_hidden_states=True)
        for hook in hooks:
            hook.remove()
        assert torch.equal(out.waveform, plain.waveform) and torch.equal(out.spectrum, plain.spectrum)
        hidden = out.hidden_states
        assert isinstance(hidden, tuple) and len(hidden) == cfg.encoder_layers + 2
        assert all(h.shape == (1, frames, cfg.hidden_size) for h in hidden)
        assert torch.equal(hidden[-1], seen["head_input"])  # the first (unshifted) pass's
        assert torch.equal(hidden[-2], seen["bottleneck"])  # no FiLM in the shipped model
        assert torch.equal(hidden[cfg.encoder_layers - 1], seen["encoder"])
        # the config's default
        model.config.output_hidden_states = True
        assert torch.equal(model(long).hidden_states[-1], hidden[-1])
        model.config.output_hidden_states = False
        # a tuple, waveform first, by argument or by config; hidden states last
        as_tuple = model(long, return_dict=False)
        assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], plain.waveform) and len(as_tuple) == 2
        with_hidden = model(long, output_hidden_states=True, return_dict=False)
        assert torch.equal(with_hidden[0], plain.waveform) and len(with_hidden[-1]) == cfg.encoder_layers + 2
        model.config.return_dict = False
        try:
            assert isinstance(model(long), tuple) and isinstance(model(long, return_dict=True), MsarAutoencoderOutput)
        finally:
            model.config.return_dict = True
        # a padded batch: each item's states are its own (as alone), zeros over the padding
        batch = MsarAutoencoderFeatureExtractor()([long.numpy(), short.numpy()], sampling_rate=16000)
        padded = model(**batch, output_hidden_states=True)
        alone = model(short, output_hidden_states=True).hidden_states
        n = alone[0].shape[1]
        for b, a, full in zip(padded.hidden_states, alone, hidden, strict=True):
            assert b.shape == (2, frames, cfg.hidden_size)
            assert torch.allclose(b[1, :n], a[0], rtol=0, atol=1e-5) and not b[1, n:].any()
            assert torch.allclose(b[0], full[0], rtol=0, atol=1e-5)
        # training (labels): the same states come back with the loss
        model.train()
        trained = model(long, labels=long, output_hidden_states=True)
        assert trained.loss is not None and len(trained.hidden_states) == cfg.encoder_layers + 2
        model.eval()


def test_feature_extractor_resamples_and_scales_integer_pcm(fsdd_file):
    wave, rate = load_audio(fsdd_file, sampling_rate=None)
    assert rate == 8000
    fe = MsarAutoencoderFeatureExtractor()
    feats = fe(wave.numpy(), sampling_rate=rate)
    assert feats["input_values"].shape == (1, 2 * wave.numel())
    # integer PCM is read at its full scale, as the pipeline and load_audio read it
    pcm16 = np.round(wave.numpy() * 32767).astype(np.int16)
    from_int = fe(pcm16, sampling_rate=rate)["input_values"]
    assert torch.allclose(from_int, feats["input_values"], atol=1e-3), float((from_int - feats["input_values"]).abs().max())
    pcm8 = np.round(wave.numpy() * 127 + 128).astype(np.uint8)
    assert torch.allclose(fe(pcm8, sampling_rate=rate)["input_values"], feats["input_values"], atol=2e-2)


def test_feature_extractor_reads_a_2d_array_as_a_batch_as_transformers_does(speech_files):
    """A 2-D array was one multi-channel clip, downmixed to one item, where transformers' audio
    feature extractors (Wav2Vec2FeatureExtractor, WhisperFeatureExtractor) read (batch, samples):
    fe(np.stack([a, b])) gave one item, the mean of a and b, instead of a batch of two. Now each row
    is one mono clip, so a (channels, samples) array comes back as its channels repaired one by one
    (as msar repairs stereo); input that cannot be (batch, samples) is refused by name."""
    fe = MsarAutoencoderFeatureExtractor()
    a, b = (load_audio(f)[0][:16000].numpy() for f in speech_files[:2])
    as_list = fe([a, b], sampling_rate=16000)
    for batch in (np.stack([a, b]), torch.from_numpy(np.stack([a, b]))):
        feats = fe(batch, sampling_rate=16000)
        assert feats["input_values"].shape == (2, 16000) and feats["attention_mask"].shape == (2, 16000)
        assert torch.equal(feats["input_values"], as_list["input_values"])
    # resampled row by row, as the same clips in a list
    rows_8k = np.stack([a[::2], b[::2]])
    assert torch.equal(fe(rows_8k, sampling_rate=8000)["input_values"],
                       fe([a[::2], b[::2]], sampling_rate=8000)["input_values"])
    # stereo (channels, samples): per channel through the model, as repair() takes each channel
    model = MsarAutoencoderModel.from_pretrained(SHIPPED).eval()
    with torch.no_grad():
        out = model(**fe(np.stack([a, b]), sampling_rate=16000)).waveform
        for i, channel in enumerate((a, b)):
            assert torch.allclose(out[i], model(torch.from_numpy(channel)).waveform[0], rtol=0, atol=1e-6), i
    # (samples, channels), as soundfile reads stereo: more rows than samples, named, not 16000 clips
    with pytest.raises(ValueError, match=r"\(samples, channels\).*\.T"):
        fe(np.stack([a, b], axis=1), sampling_rate=16000)
    # a multi-channel item inside a list, and 3-D input: mono only, named
    with pytest.raises(ValueError, match=r"mono.*item 1 has shape \(2, 16000\)"):
        fe([a, np.stack([a, b])], sampling_rate=16000)
    with pytest.raises(ValueError, match="mono"):
        fe(np.stack([a, b])[None], sampling_rate=16000)


def test_repair_long_input_matches_unchunked_away_from_boundaries(speech_files):
    speech = torch.cat([load_audio(f)[0] for f in speech_files[:4]])[: 16000 * 12]
    model = _perturbed(MsarAutoencoderConfig(**SMALL))
    chunked = model.repair(speech, chunk_seconds=3.0, overlap_seconds=0.5)
    assert chunked.shape == speech.shape
    with torch.no_grad():
        full = model(speech[None]).waveform[0]
    # chunks start every 2.5 s; cross-fades cover [2.5k, 2.5k + 0.5] s: compare the rest
    away = torch.ones_like(speech, dtype=torch.bool)
    for k in range(1, 5):
        away[int((2.5 * k - 0.3) * 16000) : int((2.5 * k + 0.8) * 16000)] = False
    err = (chunked - full)[away].abs().max()
    assert float(err) < 1e-3 * float(full.abs().max()) + 1e-5
    assert float(full.abs().max()) > 0.05
    # numpy in -> numpy out; odd lengths and tiny inputs keep their length
    assert model.repair(speech[:12345].numpy()).shape == (12345,)
    assert model.repair(torch.zeros(100)).shape == (100,)
    assert model.repair(torch.zeros(0)).shape == (0,)


def test_strength_mixes_repair_and_input(speech_file):
    speech = load_audio(speech_file)[0][:32000]
    model = _perturbed(MsarAutoencoderConfig(**SMALL))
    full = model.repair(speech)
    assert torch.equal(model.repair(speech, strength=0.0), speech)
    half = model.repair(speech, strength=0.5)
    assert torch.allclose(half, 0.5 * full + 0.5 * speech, atol=1e-6)
    with pytest.raises(ValueError):
        model.repair(speech, strength=1.5)
    # no strength given: the config's default mix (saved with the model)
    model.config.default_strength = 0.5
    assert torch.equal(model.repair(speech), half)
    with pytest.raises(ValueError, match="default_strength"):
        MsarAutoencoderConfig(**SMALL, default_strength=1.5)
    with pytest.raises(ValueError, match="default_strength"):
        MsarAutoencoderConfig(**SMALL, default_strength="loud")
    # "auto" as the default: the per-recording mix, as if asked for
    model.config.default_strength = "auto"
    assert torch.equal(model.repair(speech), model.repair(speech, strength="auto"))
    assert MsarAutoencoderConfig(**SMALL, default_strength="auto").default_strength == "auto"
    for bad in (0, 1.5, 257):
        with pytest.raises(ValueError, match="inference_shifts"):
            MsarAutoencoderConfig(**SMALL, inference_shifts=bad)


def test_causal_variant_does_not_look_ahead(speech_file):
    speech = load_audio(speech_file)[0][:32000]
    # level normalisation looks at the whole clip; switch it off to test the network itself
    model = _perturbed(MsarAutoencoderConfig(causal=True, normalize_input=False, **SMALL))
    changed = speech.clone()
    changed[20000:] = 0
    a, b = model(speech[None]).waveform[0], model(changed[None]).waveform[0]
    # only the future (plus one STFT window of look-ahead) may differ
    assert torch.allclose(a[: 20000 - 512], b[: 20000 - 512], atol=1e-5)
    assert not torch.allclose(a[20000:], b[20000:], atol=1e-3)
    bidirectional = _perturbed(MsarAutoencoderConfig(normalize_input=False, **SMALL))
    a, b = bidirectional(speech[None]).waveform[0], bidirectional(changed[None]).waveform[0]
    assert not torch.allclose(a[: 20000 - 512], b[: 20000 - 512], atol=1e-5)


def test_save_load_round_trip_through_auto_classes(tmp_path, speech_file):
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

    model = _perturbed(MsarAutoencoderConfig(**SMALL))
    model.save_pretrained(tmp_path)
    MsarAutoencoderFeatureExtractor().save_pretrained(tmp_path)
    assert isinstance(AutoConfig.from_pretrained(tmp_path), MsarAutoencoderConfig)
    assert isinstance(AutoFeatureExtractor.from_pretrained(tmp_path), MsarAutoencoderFeatureExtractor)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert isinstance(loaded, MsarAutoencoderModel)
    speech = load_audio(speech_file)[0][:16000]
    assert torch.allclose(loaded.repair(speech), model.repair(speech), atol=1e-6)
    for name in ("modeling_msar_autoencoder.py", "configuration_msar_autoencoder.py", "postprocessing_msar_autoencoder.py",
                 "comb_msar_autoencoder.py",
                 "feature_extraction_msar_autoencoder.py"):
        assert (tmp_path / name).exists()


def test_config_values_edited_after_loading_are_checked_before_save(tmp_path, speech_file, noise_files):
    """A config value set on the attribute (model.config.default_strength = 1.5) or passed to
    from_pretrained (which sets attributes) skipped __init__'s checks: save_pretrained wrote a folder
    that from_pretrained then refused, and repair() said "residual_gate ... got None" for a bad
    config.residual_gate. Now save_pretrained refuses it, and repair() names the config."""
    from transformers import AutoModel

    noisy = _noisy(load_audio(speech_file)[0][:32000], noise_files[0], snr_db=5.0)
    model = AutoModel.from_pretrained(SHIPPED, residual_gate=2.0)
    with pytest.raises(ValueError, match=r"residual_gate must be in \[0, 1\], got 2.0 \(config.residual_gate\)"):
        model.repair(noisy)
    with pytest.raises(ValueError, match="residual_gate must be in"):
        model.save_pretrained(tmp_path / "bad")
    assert not (tmp_path / "bad" / "config.json").exists()
    for name, bad in (("default_strength", 1.5), ("low_band_comb", -1.0), ("inference_shifts", 0)):
        edited = MsarAutoencoderConfig(**SMALL)
        setattr(edited, name, bad)
        with pytest.raises(ValueError, match=name):
            edited.save_pretrained(tmp_path / name)
    # valid edits round-trip, and the loaded model repairs real speech with them
    model.config.residual_gate, model.config.default_strength, model.config.low_band_comb = 0.25, 0.6, 0.0
    model.save_pretrained(tmp_path / "good")
    loaded = AutoModel.from_pretrained(tmp_path / "good")
    assert (loaded.config.residual_gate, loaded.config.default_strength, loaded.config.low_band_comb) == (0.25, 0.6, 0.0)
    repaired = loaded.repair(noisy)
    assert torch.equal(repaired, model.repair(noisy))
    assert torch.equal(repaired, model.repair(noisy, strength=0.6, residual_gate=0.25, low_band_comb=0.0))
    assert not torch.equal(repaired, AutoModel.from_pretrained(SHIPPED).repair(noisy))


@pytest.mark.slow  # a fresh interpreter importing transformers: ~10-25 s on the shared CPU
def test_remote_code_loads_without_msar_hf(tmp_path, speech_file):
    model = _perturbed(MsarAutoencoderConfig(**SMALL))
    model.save_pretrained(tmp_path / "model")
    MsarAutoencoderFeatureExtractor().save_pretrained(tmp_path / "model")
    speech = load_audio(speech_file)[0][:16000]
    np.save(tmp_path / "speech.npy", speech.numpy())
    np.save(tmp_path / "expected.npy", model.repair(speech).numpy())
    script = textwrap.dedent(f"""
        import sys
        sys.modules["msar_hf"] = None  # any import of msar_hf now fails: remote code must stand alone
        import numpy as np, torch
        from transformers import AutoFeatureExtractor, AutoModel
        model = AutoModel.from_pretrained({str(tmp_path / 'model')!r}, trust_remote_code=True)
        fe = AutoFeatureExtractor.from_pretrained({str(tmp_path / 'model')!r}, trust_remote_code=True)
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        speech = np.load({str(tmp_path / 'speech.npy')!r})
        x = fe(speech, sampling_rate=16000)["input_values"][0]
        out = model.repair(x).numpy()
        assert np.allclose(out, np.load({str(tmp_path / 'expected.npy')!r}), atol=1e-5), abs(out).max()
        print("remote-ok")
    """)
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "OMP_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, check=False, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0 and "remote-ok" in proc.stdout, proc.stderr[-3000:]


def test_speech_repair_pipeline_keeps_rate_and_length(tmp_path, fsdd_file, speech_file):
    from transformers import pipeline

    folder = SHIPPED if (SHIPPED / "model.safetensors").exists() else tmp_path / "model"
    if folder != SHIPPED:
        _perturbed(MsarAutoencoderConfig(**SMALL)).save_pretrained(folder)
        MsarAutoencoderFeatureExtractor().save_pretrained(folder)
    repair = pipeline("speech-repair", model=str(folder))
    wave, rate = load_audio(fsdd_file, sampling_rate=None)
    out = repair(str(fsdd_file))
    assert out["sampling_rate"] == rate == 8000 and out["audio"].shape == (wave.numel(),)
    assert np.isfinite(out["audio"]).all() and np.abs(out["audio"]).max() > 0.01
    # array + rate and dict inputs give the same result as the path
    same = repair(wave.numpy(), sampling_rate=rate)["audio"]
    assert np.allclose(same, out["audio"], atol=1e-5)
    as_dict = repair({"array": wave.numpy(), "sampling_rate": rate})["audio"]
    assert np.allclose(as_dict, out["audio"], atol=1e-5)
    # repaired speech still correlates with the input speech (not noise, not silence)
    assert _sisdr(out["audio"], wave.numpy()) > 0
    # no strength given: the model's default_strength, as model.repair applies it; a strength passes through
    speech = load_audio(speech_file)[0]
    model = repair.model
    assert np.allclose(repair(speech.numpy(), sampling_rate=16000)["audio"], model.repair(speech).numpy(), atol=1e-5)
    assert np.allclose(repair(speech.numpy(), sampling_rate=16000, strength=1.0)["audio"],
                       model.repair(speech, strength=1.0).numpy(), atol=1e-5)
    # integer PCM arrays (as soundfile/scipy read them) are scaled, not fed in the thousands;
    # a (samples, channels) array is refused rather than read as thousands of channels
    pcm16 = np.round(wave.numpy() * 32767).astype(np.int16)
    assert np.allclose(repair(pcm16, sampling_rate=rate)["audio"], out["audio"], atol=2e-3)
    pcm8 = np.round(wave.numpy() * 127 + 128).astype(np.uint8)
    assert _sisdr(repair(pcm8, sampling_rate=rate)["audio"], out["audio"]) > 15
    with pytest.raises(ValueError, match="channels"):
        repair(np.stack([wave.numpy(), wave.numpy()], axis=1), sampling_rate=rate)
    # unusable arrays are named as such: empty, NaN samples; model.repair() refuses integer PCM
    # (it would repair values in the thousands) rather than guess its scale
    with pytest.raises(ValueError, match="empty"):
        repair(np.zeros(0, dtype=np.float32), sampling_rate=rate)
    broken = speech.numpy().copy()
    broken[100:110] = np.nan
    with pytest.raises(ValueError, match="10 NaN/Inf samples"):
        repair(broken, sampling_rate=16000)
    with pytest.raises(TypeError, match="int16"):
        model.repair(np.round(speech.numpy() * 32767).astype(np.int16))


def test_speech_repair_pipeline_batch_size_changes_nothing(fsdd_file, speech_files):
    """batch_size > 1 let transformers pad the items into one tensor: the shorter item was repaired
    with trailing zeros (another level normalisation, a different result), a stereo item kept only its
    first channel, and a batch mixing stereo and mono crashed. Each recording is repaired alone now."""
    from transformers import pipeline

    repair = pipeline("speech-repair", model=str(SHIPPED))
    long, short = (load_audio(f)[0].numpy() for f in speech_files[:2])
    short = short[: len(long) // 2]
    fsdd, rate = load_audio(fsdd_file, sampling_rate=None)
    inputs = [{"array": long, "sampling_rate": 16000}, {"array": short, "sampling_rate": 16000},
              {"array": np.stack([short, short[::-1].copy()]), "sampling_rate": 16000},
              {"array": fsdd.numpy(), "sampling_rate": rate}]
    alone = [repair(x) for x in inputs]
    for batched in (repair(inputs, batch_size=2), pipeline("speech-repair", model=str(SHIPPED), batch_size=4)(inputs)):
        for one, out in zip(alone, batched):
            assert out["sampling_rate"] == one["sampling_rate"] and out["audio"].shape == one["audio"].shape
            assert np.array_equal(out["audio"], one["audio"])


def test_speech_repair_pipeline_takes_a_datasets_audio_column(fsdd_file, speech_files):
    """datasets 5 decodes an Audio column to torchcodec AudioDecoder objects: `repair(ds[0]["audio"])`
    was refused ("pass sampling_rate=... with an array input"). Now an item repairs as its file does,
    at the column's rate (Audio(sampling_rate=...) resamples), and a KeyDataset streams through."""
    from datasets import Audio, Dataset
    from transformers import pipeline
    from transformers.pipelines.pt_utils import KeyDataset

    repair = pipeline("speech-repair", model=str(SHIPPED))
    files = [str(fsdd_file), str(speech_files[0])]
    ds = Dataset.from_dict({"audio": files}).cast_column("audio", Audio())
    for item, path in zip(ds, files):
        out, by_path = repair(item["audio"]), repair(path)
        assert out["sampling_rate"] == by_path["sampling_rate"] and np.array_equal(out["audio"], by_path["audio"])
    at_16k = ds.cast_column("audio", Audio(sampling_rate=16000))
    streamed = list(repair(KeyDataset(at_16k, "audio")))
    assert [o["sampling_rate"] for o in streamed] == [16000, 16000]
    fsdd_16k = load_audio(fsdd_file, sampling_rate=16000)[0]
    assert abs(streamed[0]["audio"].shape[-1] - fsdd_16k.shape[-1]) <= 1
    assert _sisdr(streamed[0]["audio"][: fsdd_16k.shape[-1]], fsdd_16k.numpy()[: streamed[0]["audio"].shape[-1]]) > 5


def test_speech_repair_pipeline_takes_forward_params_and_refuses_unknown_options(speech_file):
    """Unknown keywords were dropped silently: forward_params={"strength": 0} (how transformers' audio
    pipelines take model options) and a typo such as strenght=0 both gave the full default repair."""
    from transformers import pipeline

    repair = pipeline("speech-repair", model=str(SHIPPED))
    speech = load_audio(speech_file)[0][:24000].numpy()
    untouched = repair(speech, sampling_rate=16000, forward_params={"strength": 0.0})["audio"]
    assert np.array_equal(untouched, speech)
    assert np.array_equal(repair(speech, sampling_rate=16000, forward_params={"strength": 0.7, "residual_gate": 0})["audio"],
                          repair(speech, sampling_rate=16000, strength=0.7, residual_gate=0)["audio"])
    with pytest.raises(TypeError, match="strenght"):
        repair(speech, sampling_rate=16000, strenght=0.0)
    with pytest.raises(TypeError, match="gate"):
        repair(speech, sampling_rate=16000, forward_params={"gate": 0})
    # a plain list of samples was read as a batch of one-number recordings ("got shape ()")
    with pytest.raises(ValueError, match="list of 24000 numbers: pass one recording as a numpy array"):
        repair(speech.tolist(), sampling_rate=16000)
    assert [item["audio"].shape for item in repair([speech[:8000], speech[8000:]], sampling_rate=16000)] == [(8000,), (16000,)]


def test_speech_repair_pipeline_save_pretrained_writes_a_folder_it_loads_from(tmp_path, speech_file, noise_files):
    """repair.save_pretrained(folder) (and so repair.push_to_hub) crashed with FileNotFoundError
    '.../pipelines/.fullband.py': transformers copies a registered pipeline's module as remote code
    with its relative imports, and this module imports msar_hf. Now it saves the model and its
    feature extractor, and pipeline("speech-repair", model=folder) repairs as the original does."""
    import json

    from transformers import AutoFeatureExtractor, pipeline

    repair = pipeline("speech-repair", model=str(SHIPPED))
    repair.save_pretrained(tmp_path / "saved")
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert "custom_pipelines" not in config and "custom_pipelines" not in repair.model.config.to_dict()
    assert isinstance(AutoFeatureExtractor.from_pretrained(tmp_path / "saved"), MsarAutoencoderFeatureExtractor)
    noisy = _noisy(load_audio(speech_file)[0][:32000], noise_files[0], snr_db=5.0).numpy()
    again = pipeline("speech-repair", model=str(tmp_path / "saved"))
    out = again(noisy, sampling_rate=16000)["audio"]
    assert np.allclose(out, repair(noisy, sampling_rate=16000)["audio"], atol=1e-5)
    assert _sisdr(out, noisy) > 0 and not np.allclose(out, noisy, atol=1e-3)


def test_speech_repair_pipeline_names_a_wrong_model():
    """pipeline("speech-repair", model=<the synthesis model>) failed with "Can't load feature extractor
    for ...", which points at the folder, not at the model being of the wrong kind."""
    from transformers import pipeline

    with pytest.raises(ValueError, match=r"msar repair model.*MsarMultiSpeakerModel \(msar_multispeaker\)"):
        pipeline("speech-repair", model=msar_hf.SYNTHESIS_MODEL)


@pytest.mark.skipif(not (SHIPPED / "model.safetensors").exists(), reason="shipped default not trained yet")
def test_shipped_default_does_no_harm_and_repairs(speech_files, noise_files):
    model = MsarAutoencoderModel.from_pretrained(SHIPPED).eval()
    assert (SHIPPED / "README.md").exists()
    assert (SHIPPED / "model.safetensors").stat().st_size <= 20 * 1024 * 1024
    clean = load_audio(speech_files[1])[0]
    # identity-ish on clean input
    assert _sisdr(model.repair(clean), clean) > 15.0
    # and a real improvement on noisy input (fixture noise at 0 dB SNR)
    noisy = _noisy(clean, noise_files[1], snr_db=0.0)
    assert _sisdr(model.repair(noisy), clean) > _sisdr(noisy, clean) + 3.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (runs where the device tool lends one)")
def test_repair_on_a_gpu_matches_the_cpu(speech_files, noise_files):
    """repair() of a CUDA waveform by a CUDA model: a CUDA waveform back, the CPU's repair to within
    -40 dB (auto strength, the gate and the mix run on the CPU; only the network's chunks travel)."""
    clean = load_audio(speech_files[1])[0]
    noisy = _noisy(clean, noise_files[1], snr_db=5.0)
    on_cpu = MsarAutoencoderModel.from_pretrained(SHIPPED).eval().repair(noisy)
    on_gpu = MsarAutoencoderModel.from_pretrained(SHIPPED).eval().to("cuda").repair(noisy.to("cuda"))
    assert on_gpu.device.type == "cuda" and on_gpu.shape == noisy.shape
    err_db = 10 * torch.log10(((on_gpu.cpu() - on_cpu) ** 2).sum() / (on_cpu**2).sum())
    assert err_db < -40, float(err_db)


@pytest.mark.skipif(not (SHIPPED / "model.safetensors").exists(), reason="shipped default not trained yet")
def test_auto_strength_applies_more_where_the_model_finds_more_to_fix(speech_files, noise_files):
    """strength="auto" mixes the full repair by how much it changes the input: clean speech gets
    about the gentlest mix (more of the input kept than at 0.8), speech in 0 dB noise a strong one;
    a steady noise floor is removed in full, and noise that fills the speech's pauses almost in full,
    while a change that follows the speech (clipping repaired) is not pushed up."""
    from msar_hf.models.autoencoder.postprocessing_msar_autoencoder import (
        AUTO_PAUSE_NOISE_STRENGTH,
        AUTO_STRENGTH_RANGE,
        _removed_kept_correlation,
        auto_strength,
    )

    model = MsarAutoencoderModel.from_pretrained(SHIPPED).eval()
    clean = load_audio(speech_files[1])[0]
    noisy = _noisy(clean, noise_files[1], snr_db=0.0)
    mixes = {}
    for name, x in (("clean", clean), ("noisy", noisy)):
        # auto judges the network's repair; the residual gate and the comb then apply to what is mixed
        mixes[name] = auto_strength(x, model.repair(x, strength=1.0, residual_gate=0.0, low_band_comb=0.0))
        full = model.repair(x, strength=1.0)
        assert torch.allclose(model.repair(x, strength="auto"), mixes[name] * full + (1 - mixes[name]) * x, atol=1e-6)
    assert mixes["clean"] < AUTO_STRENGTH_RANGE[0] + 0.05 and mixes["noisy"] >= AUTO_STRENGTH_RANGE[1] - 1e-6
    # what the repair removes from a steady noise (a running tap) is a noise floor: all of it goes;
    # from a coffee shop it is loudest where the speech pauses (energies anti-correlated): 0.95;
    # what it removes from clipped speech sits on the speech's peaks: the amount of change decides
    cases = {noise.stem: _noisy(clean, noise, snr_db=10.0) for noise in noise_files
             if noise.stem in ("running_tap", "blanket_coffee-shop")}
    cases["clipped"] = clean.clamp(-0.25 * clean.abs().max(), 0.25 * clean.abs().max())
    mix, correlation = {}, {}
    for name, x in cases.items():
        full = model.repair(x, strength=1.0, residual_gate=0.0, low_band_comb=0.0)
        mix[name], correlation[name] = auto_strength(x, full), _removed_kept_correlation(x, full)
    assert mix["running_tap"] > 0.99
    assert correlation["blanket_coffee-shop"] < 0 and mix["blanket_coffee-shop"] > AUTO_PAUSE_NOISE_STRENGTH - 0.01
    assert correlation["clipped"] > 0.4 and mix["clipped"] <= AUTO_STRENGTH_RANGE[1] + 1e-6
    assert _removed_kept_correlation(clean, model.repair(clean, strength=1.0, residual_gate=0.0, low_band_comb=0.0)) > 0
    assert _sisdr(model.repair(clean, strength="auto"), clean) > _sisdr(model.repair(clean, strength=0.8), clean)
    assert _sisdr(model.repair(noisy, strength="auto"), clean) > _sisdr(noisy, clean) + 3.0
    with pytest.raises(ValueError, match="auto"):
        model.repair(clean, strength="loud")
    # a steady removal is a noise floor only when there is something to judge: the same white
    # floor taken out at -20 dB of the recording gets full strength, at -50 dB the gentlest mix
    floor = torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    floor = floor * clean.norm() / floor.norm()
    assert auto_strength(clean, clean - 0.1 * floor) > 0.99
    assert auto_strength(clean, clean - 0.00316 * floor) == pytest.approx(AUTO_STRENGTH_RANGE[0])


@pytest.mark.skipif(not (SHIPPED / "model.safetensors").exists(), reason="shipped default not trained yet")
def test_auto_strength_takes_noise_by_its_time_frequency_pattern(noise_files):
    """Typing is neither steady nor confined to the speech's pauses, so the time-only rules leave its
    repair near the gentlest mix; what the repair removes from it does not share the speech's
    time-frequency pattern (its log STFT bins correlate weakly with the kept ones), and auto applies
    it almost in full. What the repair takes from the clean recording has the speech's pattern and
    changes nothing."""
    from msar_hf.metrics.quality import pesq_wb
    from msar_hf.models.autoencoder.postprocessing_msar_autoencoder import (
        AUTO_STRENGTH_RANGE,
        AUTO_TF_NOISE_CORRELATION,
        AUTO_TF_NOISE_STRENGTH,
        _removed_kept_tf_correlation,
        auto_strength,
        pause_noise_weight,
        steady_noise_weight,
        tf_noise_weight,
    )

    model = MsarAutoencoderModel.from_pretrained(SHIPPED).eval()
    aew = Path(__file__).parent / "fixtures" / "speech" / "arctic_samples" / "audio" / "cmu_arctic_us_aew_a0001.flac"
    clean = load_audio(aew)[0]  # a voice the model never trained on
    with torch.no_grad():
        kept = model.repair(clean, strength=1.0, residual_gate=0.0, low_band_comb=0.0)
    assert _removed_kept_tf_correlation(clean, kept) > AUTO_TF_NOISE_CORRELATION[0]
    # near the gentlest mix (the lower third of the range): 0.76 with stage 8's weights, under 0.75 with stage 7's
    assert tf_noise_weight(clean, kept) == 0.0 and auto_strength(clean, kept) < AUTO_STRENGTH_RANGE[0] + 0.07

    typing = next(f for f in noise_files if f.stem == "max_audio_typing")
    noisy = _noisy(clean, typing, snr_db=20.0)
    with torch.no_grad():
        full = model.repair(noisy, strength=1.0, residual_gate=0.0, low_band_comb=0.0)
    assert pause_noise_weight(noisy, full) == 0.0 and steady_noise_weight(noisy, full) == 0.0
    assert _removed_kept_tf_correlation(noisy, full) < AUTO_TF_NOISE_CORRELATION[1]
    assert tf_noise_weight(noisy, full) == 1.0
    mix = auto_strength(noisy, full)
    assert mix == pytest.approx(AUTO_TF_NOISE_STRENGTH)
    # without the rule the change (-19 dB) alone would give about the gentlest mix; PESQ-WB, which
    # the rule was chosen on, rates the fuller mix higher (2.24 -> 2.62 when written)
    with torch.no_grad():
        gentle = model.repair(noisy, strength=AUTO_STRENGTH_RANGE[0] + 0.02)
        auto = model.repair(noisy, strength="auto")
    assert pesq_wb(clean.numpy(), auto.numpy()) > pesq_wb(clean.numpy(), gentle.numpy()) + 0.2


def test_tf_correlation_reads_long_recordings_block_by_block_to_the_same_value(speech_file, noise_files):
    """The time-frequency rule's correlation keeps a chunk's spectra for its second pass and reads a
    long recording's block by block, twice (memory flat in duration): the two ways must agree on
    real noisy speech, whatever the block size."""
    from msar_hf.models.autoencoder.postprocessing_msar_autoencoder import (
        _removed_kept_tf_correlation,
    )

    clean = load_audio(speech_file)[0]
    noisy = _noisy(clean, noise_files[0], snr_db=5.0)
    kept = clean + 0.1 * (noisy - clean)  # a partial repair: some of the noise removed
    whole = _removed_kept_tf_correlation(noisy, kept)  # one block: spectra kept
    assert -1.0 < whole < 1.0
    for block_frames in (7, 64, 200):
        assert _removed_kept_tf_correlation(noisy, kept, block_frames=block_frames) == pytest.approx(whole, abs=1e-9)


@pytest.mark.skipif(not (SHIPPED / "model.safetensors").exists(), reason="shipped default not trained yet")
def test_low_band_comb_takes_out_the_noise_between_the_first_harmonics(noise_files):
    """An unseen voice (axb) in wind at 5 dB: the repair leaves noise between the first harmonics
    and Q's pitch tracker (WORLD DIO) misses voiced frames. The comb reads the F0 from the repair's
    higher harmonics (on the clean speech it agrees with DIO), changes nothing above its band, and
    the pitch similarity and PESQ-WB of the repair rise. Clean input is left exactly as it was:
    what the repair removes from it is not noise."""
    from msar_hf.metrics.quality import pesq_wb, pitch_contour, pitch_cosine, si_sdr
    from msar_hf.models.autoencoder.comb_msar_autoencoder import (
        HARMONICS_BAND_HZ,
        comb_low_band,
        harmonic_f0,
        noise_weight,
    )
    from msar_hf.models.autoencoder.postprocessing_msar_autoencoder import RemovedNoise

    model = MsarAutoencoderModel.from_pretrained(SHIPPED).eval()
    assert model.config.low_band_comb == 1.0  # on in the shipped config
    axb = Path(__file__).parent / "fixtures" / "speech" / "arctic_samples" / "audio" / "cmu_arctic_us_axb_a0005.flac"
    clean = load_audio(axb)[0]
    reference_f0 = pitch_contour(clean.numpy())
    window = torch.hann_window(1024)
    f0 = harmonic_f0(torch.stft(clean, 1024, 160, window=window, return_complex=True), 16000, 1024).numpy()
    f0 = f0[: len(reference_f0)]
    voiced, both = reference_f0 > 0, (reference_f0 > 0) & (f0 > 0)
    assert both.sum() > 0.9 * voiced.sum()
    assert np.mean(np.abs(f0[both] / reference_f0[both] - 1) < 0.1) > 0.9

    wind = next(f for f in noise_files if f.stem == "blanket_wind")
    noisy = _noisy(clean, wind, snr_db=5.0)
    with torch.no_grad():
        plain, combed = model.repair(noisy, low_band_comb=0.0), model.repair(noisy)
    change = torch.stft(combed - plain, 1024, 160, window=window, return_complex=True).abs().square().sum(1)
    above = int(1.25 * HARMONICS_BAND_HZ[1] / (16000 / 1024))
    assert change.sum() > 0 and change[above:].sum() < 1e-5 * change.sum()
    plain_pitch = pitch_cosine(reference_f0, pitch_contour(plain.numpy()))
    assert pitch_cosine(reference_f0, pitch_contour(combed.numpy())) > plain_pitch + 0.1  # 0.55 -> 0.82 when written
    assert pesq_wb(clean.numpy(), combed.numpy()) > pesq_wb(clean.numpy(), plain.numpy()) + 0.1  # 1.46 -> 1.78
    # what it cuts is noise, not speech: bins standing 12 dB over the removed noise are kept
    assert si_sdr(clean.numpy(), combed.numpy()) > si_sdr(clean.numpy(), plain.numpy()) + 0.2  # 7.79 -> 8.25 dB
    # the noise is judged on the network's own repair when one is given (as the gate judges it): a
    # "repair" that removed nothing has removed no noise, and the comb leaves the signal alone
    assert not torch.equal(comb_low_band(noisy, plain), plain)
    assert torch.equal(comb_low_band(noisy, plain, removed=RemovedNoise(noisy, noisy)), plain)

    with torch.no_grad():
        assert noise_weight(clean, model.repair(clean, strength=1.0, residual_gate=0.0, low_band_comb=0.0)) == 0.0
        assert torch.equal(model.repair(clean), model.repair(clean, low_band_comb=0.0))
    with pytest.raises(ValueError, match="low_band_comb"):
        model.repair(clean, low_band_comb=1.5)


def test_auto_strength_holds_back_a_repair_that_rewrites_the_speech(speech_files, noise_files):
    """A full repair that keeps the speech's spectrogram but re-draws its waveform (as the shipped
    model does to some mp3-coded audiobook speech) changes the recording a lot, and what it removes
    follows the speech: auto mixes no more than AUTO_REWRITE_STRENGTH of it. Clipped input is told
    apart by its rails and keeps its mix, and so does a change that removes noise."""
    import math

    from msar_hf.models.autoencoder.postprocessing_msar_autoencoder import (
        AUTO_REWRITE_STRENGTH,
        AUTO_STRENGTH_RANGE,
        _on_the_rails,
        auto_strength,
        rewrite_weight,
    )

    window = torch.hann_window(512)

    def redraw_phase(x, amount):  # the same magnitudes, phases turned by up to amount x 2 pi
        spec = torch.stft(x, 512, 128, window=window, return_complex=True)
        turn = torch.rand(spec.shape, generator=torch.Generator().manual_seed(0)) * 2 * math.pi * amount
        return torch.istft(spec * torch.exp(1j * turn), 512, 128, window=window, length=x.shape[0])

    clean = load_audio(speech_files[1])[0]
    assert not _on_the_rails(clean)
    rewritten = redraw_phase(clean, 0.5)
    assert rewrite_weight(clean, rewritten) == 1.0
    assert auto_strength(clean, rewritten) == pytest.approx(AUTO_REWRITE_STRENGTH)
    # a smaller re-draw (-10 dB of change) is held back part of the way
    assert AUTO_REWRITE_STRENGTH < auto_strength(clean, redraw_phase(clean, 0.1)) < AUTO_STRENGTH_RANGE[1]
    # clipped speech: its rails say the change restores peaks; nothing is held back
    peak = float(clean.abs().max())
    clipped = clean.clamp(-0.25 * peak, 0.25 * peak)
    assert _on_the_rails(clipped)
    assert rewrite_weight(clipped, redraw_phase(clipped, 0.5)) == 0.0
    assert auto_strength(clipped, redraw_phase(clipped, 0.5)) == pytest.approx(AUTO_STRENGTH_RANGE[1])
    # removing noise that fills the pauses is not a rewrite, however much it changes
    noisy = _noisy(clean, noise_files[0], snr_db=0.0)
    assert rewrite_weight(noisy, clean) == 0.0


@pytest.mark.skipif(not (SHIPPED / "model.safetensors").exists(), reason="shipped default not trained yet")
def test_shift_averaging_makes_the_repair_follow_a_delay(speech_files, noise_files):
    """One pass repairs a recording a little differently when it starts half an STFT hop later
    (the frame grid falls elsewhere: about -25 dB of difference on noisy speech); the mean over
    ``inference_shifts=2`` offsets covers both grids, so a delayed input gives the delayed repair."""
    model = MsarAutoencoderModel.from_pretrained(SHIPPED).eval()
    assert model.config.inference_shifts == 2  # what the shipped model does
    x = _noisy(load_audio(speech_files[1])[0], noise_files[1], snr_db=5.0)
    delay = model.config.hop_length // 2
    mismatch_db = {}
    for shifts in (1, 2):
        model.config.inference_shifts = shifts
        with torch.no_grad():
            plain = model.repair(x, strength=1.0, residual_gate=0.0, low_band_comb=0.0)
            later = model.repair(torch.cat([torch.zeros(delay), x]), strength=1.0, residual_gate=0.0, low_band_comb=0.0)[delay:]
        inner = slice(2000, -2000)  # away from the ends, where the delayed copy starts with silence
        diff = (plain[inner] - later[inner]).pow(2).sum() / plain[inner].pow(2).sum()
        mismatch_db[shifts] = float(10 * torch.log10(diff))
    assert mismatch_db[1] > -35.0, mismatch_db  # one pass does depend on the grid
    assert mismatch_db[2] < mismatch_db[1] - 12.0 and mismatch_db[2] < -35.0, mismatch_db
    # forward() in eval mode averages too; in training mode (and with labels) it is one pass
    model.config.normalize_input = False
    piece = x[:16000][None] * 4
    with torch.no_grad():
        eval_out = model(piece).waveform
        model.train()
        train_out = model(piece).waveform
        model.eval()
        model.config.inference_shifts = 1
        one_pass = model(piece).waveform
    assert torch.equal(train_out, one_pass) and not torch.allclose(eval_out, one_pass, atol=1e-4)


@pytest.mark.skipif(not (SHIPPED / "model.safetensors").exists(), reason="shipped default not trained yet")
def test_residual_gate_ducks_only_what_stays_under_the_removed_noise(speech_files, noise_files):
    """repair()'s residual gate: bins of the repair that stay under the level of the noise it
    removed drop by up to ``reduction`` (-6 dB at 0.5); the speech above that level keeps its level;
    the band under 400 Hz is kept too, unless what was removed is noise (in the speech's pauses,
    like wind here, or steady, like a running tap), where that band is gated as well; with nothing
    removed, nothing changes."""
    from msar_hf.models.autoencoder.postprocessing_msar_autoencoder import (
        RESIDUAL_GATE_PROTECT_HZ,
        pause_noise_weight,
        residual_noise_gate,
        steady_noise_weight,
        tf_noise_weight,
    )

    model = MsarAutoencoderModel.from_pretrained(SHIPPED).eval()
    assert model.config.residual_gate == 0.5
    clean = load_audio(speech_files[1])[0]
    wind = next(f for f in noise_files if f.stem == "blanket_wind")
    noisy = _noisy(clean, wind, snr_db=10.0)
    full = model.repair(noisy, strength=1.0, residual_gate=0.0, low_band_comb=0.0)
    gated = model.repair(noisy, strength=1.0, low_band_comb=0.0)
    assert torch.allclose(gated, residual_noise_gate(noisy, full, 0.5), atol=1e-5)  # one chunk: one gate

    window = torch.hann_window(1024)
    level = lambda x: 20 * torch.log10(torch.stft(x, 1024, 256, window=window, return_complex=True).abs() + 1e-9)
    before, after = level(full), level(gated)
    low = torch.fft.rfftfreq(1024, 1 / 16000) < RESIDUAL_GATE_PROTECT_HZ
    change = after - before
    band_db = lambda lv: 10 * torch.log10((10 ** (lv[low] / 10)).sum())
    # wind fills the pauses: the band of the fundamentals holds it too, and its floor is gated as well
    # (its peaks, the fundamentals, keep their level: see RESIDUAL_GATE_PEAK_MARGIN_DB)
    quiet_low = before[low] < torch.quantile(before[low], 0.5)
    assert pause_noise_weight(noisy, full) > 0.9 and float(change[low][quiet_low].mean()) < -1.0
    # a running tap is removed as evenly under speech as in its pauses, but it is steady: that band
    # is opened too, its floor drops and the band's level (its loud fundamentals) stays
    tap = _noisy(clean, next(f for f in noise_files if f.stem == "running_tap"), snr_db=10.0)
    tap_full = model.repair(tap, strength=1.0, residual_gate=0.0, low_band_comb=0.0)
    tap_gated = model.repair(tap, strength=1.0, low_band_comb=0.0)
    assert pause_noise_weight(tap, tap_full) == 0.0 and steady_noise_weight(tap, tap_full) == 1.0
    tap_before = level(tap_full)
    tap_quiet = tap_before[low] < torch.quantile(tap_before[low], 0.5)
    assert float((level(tap_gated) - tap_before)[low][tap_quiet].mean()) < -1.0
    assert abs(float(band_db(level(tap_gated)) - band_db(tap_before))) < 0.5
    upper, upper_before = change[~low], before[~low]
    # never much more than the reduction (a few bins differ more where resynthesis re-mixes frames)
    assert float(torch.quantile(upper, 0.01)) > -6.5
    loud = upper_before > torch.quantile(upper_before, 0.9)  # the speech itself
    assert float(upper[loud].mean()) > -0.5
    ducked = float((upper < -3.0).float().mean())
    assert 0.05 < ducked < 0.8, ducked  # a real share of the bins is the floor the repair left
    # the smoothing spreads a duck over 500 Hz, several harmonics: the bins well over the threshold
    # (RESIDUAL_GATE_PEAK_MARGIN_DB) keep their level; without that rule the speech's loudest bins
    # lose more to their ducked neighbours
    spread = (level(residual_noise_gate(noisy, full, 0.5, peak_margin_db=None)) - before)[~low]
    assert float(upper[loud].mean()) > float(spread[loud].mean()) + 0.1
    assert float((upper[loud] < -1.0).float().mean()) < float((spread[loud] < -1.0).float().mean())
    # ... only as surely as what was removed is noise: from clipped speech the repair removes
    # distortion that sits neither in the pauses nor steadily, and mostly follows the speech's
    # time-frequency pattern, so the rule changes its gate far less than the wind's
    peak = float(clean.abs().max())
    clipped = clean.clamp(-0.3 * peak, 0.3 * peak)
    clip_full = model.repair(clipped, strength=1.0, residual_gate=0.0, low_band_comb=0.0)
    assert max(pause_noise_weight(clipped, clip_full), steady_noise_weight(clipped, clip_full)) == 0.0
    assert tf_noise_weight(clipped, clip_full) < 0.5

    def rule_share(damaged, full):  # what the rule changes in the gated output, in dB of it
        with_rule = residual_noise_gate(damaged, full, 0.5)
        without = residual_noise_gate(damaged, full, 0.5, peak_margin_db=None)
        return float(10 * torch.log10((with_rule - without).pow(2).sum() / with_rule.pow(2).sum()))

    assert rule_share(clipped, clip_full) < rule_share(noisy, full) - 6.0
    # the repaired output in 10 dB of real wind: nothing lost, the floor lower
    assert _sisdr(gated, clean) > _sisdr(noisy, clean) + 3.0
    # nothing removed (an identity repair): nothing gated
    assert torch.allclose(residual_noise_gate(clean, clean, 0.5), clean, atol=1e-6)
    with pytest.raises(ValueError, match="residual_gate"):
        model.repair(noisy, residual_gate=1.5)
    with pytest.raises(ValueError, match="residual_gate"):
        MsarAutoencoderConfig(residual_gate=-0.1)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_weights_repair_like_float32(dtype, speech_files, noise_files):
    """from_pretrained(..., dtype=torch.float16) gave NaN from forward and a 'quantile() input tensor
    must be non-empty' crash from repair(): the spectral floors (1e-10, 1e-12) round to 0 in float16.
    The STFT path runs in float32 now; the feature extractor's float32 batch works on half weights."""
    clean = load_audio(speech_files[1])[0][:32000]
    noisy = _noisy(clean, noise_files[1], snr_db=5.0)
    full = MsarAutoencoderModel.from_pretrained(SHIPPED).eval()
    half = MsarAutoencoderModel.from_pretrained(SHIPPED, dtype=dtype).eval()
    assert next(half.parameters()).dtype == dtype
    inputs = MsarAutoencoderFeatureExtractor()(noisy.numpy(), sampling_rate=16000)
    with torch.no_grad():
        reference = full(**inputs).waveform
        for out in (half(**inputs).waveform, half(noisy.to(dtype)).waveform):
            assert torch.isfinite(out).all()
            err_db = 10 * torch.log10(((out.float() - reference) ** 2).sum() / (reference**2).sum())
            assert err_db < -20, float(err_db)
    repaired = half.repair(noisy)
    assert repaired.dtype == torch.float32 and torch.isfinite(repaired).all()
    assert _sisdr(repaired, full.repair(noisy)) > 20.0
