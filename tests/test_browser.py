"""End to end in a real browser: ``msar serve`` + Debian's chromium, headless, driven by Playwright.

Nothing is downloaded: Playwright is pointed at ``/usr/bin/chromium`` (``make setup`` installs the
Debian package), so ``playwright install`` is never needed. A real damaged recording (fixture
speech + fixture noise) is uploaded, Repair is pressed, and the repaired audio must come back
playable: the <audio> element's source loads and reports a duration.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

from msar_hf.audio import load_audio, save_audio

pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (make setup)"),
    pytest.mark.slow,  # a fresh `msar serve` process (~12 s of imports) plus a browser
]
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``msar serve`` in its own process, as a user starts it, with a small repair model."""
    from msar_hf.models.autoencoder import MsarAutoencoderConfig, MsarAutoencoderModel

    torch.manual_seed(0)
    model = MsarAutoencoderModel(MsarAutoencoderConfig(hidden_size=32, encoder_layers=1, lstm_layers=1,
                                                       lstm_hidden_size=16, use_speaker_conditioning=False)).eval()
    work = tmp_path_factory.mktemp("serve")
    model.save_pretrained(work / "model")
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": str(work / "gradio"),
           "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    log = (work / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "msar_hf", "serve", "--port", str(port), "--repair-model",
                             str(work / "model"), "--no-synthesis", "--max-duration", "30"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (work / "serve.log").read_text()[-3000:]
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "msar serve did not come up"
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def damaged(tmp_path, speech_file, noise_files) -> Path:
    clean, rate = load_audio(speech_file)
    noise, _ = load_audio(noise_files[1])
    noise = noise.repeat(int(np.ceil(clean.numel() / noise.numel())))[: clean.numel()]
    noise = noise * clean.pow(2).mean().sqrt() / noise.pow(2).mean().sqrt() / 10 ** (5 / 20)  # 5 dB SNR
    return save_audio(tmp_path / "noisy_interview.wav", clean + noise, rate)


def test_upload_repair_and_play_in_chromium(server, damaged, tmp_path):
    expected_s = load_audio(damaged)[0].numel() / 16000
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(server, wait_until="networkidle")
            page.locator("#repair-input input[type=file]").set_input_files(str(damaged))
            # the uploaded file is loaded into the input's player before we press the button
            page.locator("#repair-input audio[src]").first.wait_for(state="attached", timeout=20_000)
            page.locator("#repair-button").click()
            # Gradio's waveform player plays through an <audio> element whose src it sets on arrival
            audio = page.locator("#repair-output audio[src]").first
            audio.wait_for(state="attached", timeout=60_000)
            src = audio.get_attribute("src")
            assert src, "the repaired <audio> element has no source"
            head = audio.evaluate(
                """async el => { const r = await fetch(el.src); const b = new Uint8Array(await r.arrayBuffer());
                                 return {ok: r.ok, size: b.length, magic: String.fromCharCode(...b.slice(0, 4))}; }"""
            )
            assert head["ok"] and head["magic"] == "RIFF" and head["size"] > 1000, head  # a WAV it can play
            download = page.locator("#repair-output a[download]").first.get_attribute("href")
            served = page.request.get(download)  # the same file, as the download button serves it
            assert served.ok and served.body()[:4] == b"RIFF" and len(served.body()) == head["size"]
            duration = audio.evaluate(
                """el => new Promise((resolve, reject) => {
                       if (el.readyState >= 1 && isFinite(el.duration)) return resolve(el.duration);
                       el.addEventListener('loadedmetadata', () => resolve(el.duration), {once: true});
                       el.addEventListener('error', () => reject(new Error('audio failed to load')), {once: true});
                       el.load();
                   })"""
            )
            assert duration > 0
            assert abs(duration - expected_s) < 0.1
            page.locator("#spectrogram-after img").first.wait_for(state="visible", timeout=20_000)
            shot = tmp_path / "repair.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()


def test_moving_the_strength_slider_unticks_auto(server):
    """Auto strength overrides the slider; a user who moves the slider wants that strength, so the
    page unticks auto for them."""
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(server, wait_until="networkidle")
            auto = page.locator("#repair-auto-strength input[type=checkbox]")
            auto.check()
            assert auto.is_checked()
            page.locator("#repair-strength input[type=range]").focus()
            page.keyboard.press("ArrowLeft")
            page.wait_for_function(
                "() => !document.querySelector('#repair-auto-strength input[type=checkbox]').checked", timeout=10_000)
            assert not auto.is_checked()
        finally:
            browser.close()
