"""The shipped save_pretrained folders carry copies of the model code (remote code for
`trust_remote_code` users). They must never drift from the package's own sources."""

from __future__ import annotations

from pathlib import Path

import pytest

import msar_hf

PACKAGE = Path(msar_hf.__file__).parent
SHIPPED = {
    "repair": PACKAGE / "models" / "autoencoder",
    "repair_causal": PACKAGE / "models" / "autoencoder",
    "multispeaker": PACKAGE / "models" / "multispeaker",
}


@pytest.mark.parametrize("folder", sorted(SHIPPED))
def test_shipped_remote_code_matches_the_package(folder):
    shipped = PACKAGE / "pretrained" / folder
    if not (shipped / "config.json").exists():
        pytest.skip(f"no shipped {folder} model in this checkout")
    copies = sorted(shipped.glob("*.py"))
    assert copies, f"{shipped} has no remote-code files"
    for copy in copies:
        source = SHIPPED[folder] / copy.name
        assert source.exists(), f"{copy} has no counterpart in {SHIPPED[folder]}"
        assert copy.read_text() == source.read_text(), (
            f"{copy} differs from {source}: re-save the shipped model (save_pretrained) after changing model code"
        )


def test_shipped_weights_stay_small():
    sizes = {p.relative_to(PACKAGE): p.stat().st_size for p in (PACKAGE / "pretrained").rglob("*") if p.is_file()}
    budgets = {"repair": 20e6, "repair_causal": 10e6, "speaker_encoder": 10e6, "multispeaker": 60e6}
    for name, budget in budgets.items():
        total = sum(s for p, s in sizes.items() if p.parts[1] == name)
        assert total <= budget, f"pretrained/{name} is {total / 1e6:.1f} MB (budget {budget / 1e6:.0f} MB)"


def test_the_package_names_its_shipped_folders(tmp_path, monkeypatch):
    """msar_hf.REPAIR_MODEL & co. are absolute: from_pretrained works from any working directory."""
    monkeypatch.chdir(tmp_path)
    for name, path in (("repair", msar_hf.REPAIR_MODEL), ("repair_causal", msar_hf.LIVE_REPAIR_MODEL),
                       ("multispeaker", msar_hf.SYNTHESIS_MODEL), ("speaker_encoder", msar_hf.SPEAKER_ENCODER)):
        assert Path(path).is_absolute() and Path(path) == PACKAGE / "pretrained" / name
    if (Path(msar_hf.REPAIR_MODEL) / "config.json").exists():
        from transformers import AutoConfig

        assert AutoConfig.from_pretrained(msar_hf.REPAIR_MODEL).model_type == "msar_autoencoder"


def _auto_map(folder: Path) -> dict[str, str]:
    """Every auto_map entry of a folder's config files, {auto class: "module.Class"}."""
    import json

    entries: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        for auto, ref in (data.get("auto_map") or {}).items() if isinstance(data, dict) else ():
            entries[auto] = next(r for r in ref if r) if isinstance(ref, list) else ref
    return entries


def _assert_remote_code_complete(folder: Path, autos: tuple[str, ...]) -> None:
    entries = _auto_map(folder)
    for auto in autos:
        assert auto in entries, f"{folder}: auto_map has no {auto} ({sorted(entries)})"
    for auto, ref in entries.items():
        module = ref.split("--")[-1].rsplit(".", 1)[0]
        assert (folder / f"{module}.py").is_file(), f"{folder}: auto_map[{auto}] names {module}.py, which is not there"


#: the Auto classes a user may load each shipped model with (README: "Auto* + remote code")
SHIPPED_AUTOS = {
    "repair": ("AutoConfig", "AutoModel", "AutoFeatureExtractor"),
    "repair_causal": ("AutoConfig", "AutoModel", "AutoFeatureExtractor"),
    "multispeaker": ("AutoConfig", "AutoModel", "AutoModelForTextToWaveform", "AutoTokenizer", "AutoProcessor"),
}


@pytest.mark.parametrize("folder", sorted(SHIPPED))
def test_shipped_folders_name_every_auto_class_in_auto_map(folder):
    """AutoModel.from_pretrained(<shipped synthesis folder>, trust_remote_code=True) without msar
    installed used to fail: its auto_map named AutoModelForTextToWaveform only."""
    shipped = PACKAGE / "pretrained" / folder
    if not (shipped / "config.json").exists():
        pytest.skip(f"no shipped {folder} model in this checkout")
    _assert_remote_code_complete(shipped, SHIPPED_AUTOS[folder])


@pytest.mark.parametrize("folder", sorted(SHIPPED))
def test_save_pretrained_of_a_loaded_shipped_model_keeps_its_remote_code(folder, tmp_path):
    """A model loaded with msar installed (fine-tuned, say) and saved again must stay loadable by
    remote code: the synthesis model's save_pretrained wrote an auto_map but no .py files."""
    from transformers import AutoFeatureExtractor, AutoModel, AutoProcessor

    shipped = PACKAGE / "pretrained" / folder
    if not (shipped / "config.json").exists():
        pytest.skip(f"no shipped {folder} model in this checkout")
    model = AutoModel.from_pretrained(shipped)
    model.config.length_scale = 1.1  # a changed config is saved too (ignored by the repair model)
    model.save_pretrained(tmp_path)
    (AutoFeatureExtractor if folder.startswith("repair") else AutoProcessor).from_pretrained(shipped).save_pretrained(tmp_path)
    _assert_remote_code_complete(tmp_path, SHIPPED_AUTOS[folder])
    assert AutoModel.from_pretrained(tmp_path).config.length_scale == 1.1
