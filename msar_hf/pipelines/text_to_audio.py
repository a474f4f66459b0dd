"""``pipeline("text-to-speech")`` for msar synthesis models: each item of a batch at its own length.

transformers' :class:`~transformers.TextToAudioPipeline` runs a forward-only model as
``model(**inputs)[0]``: with ``batch_size > 1`` that is the batch's zero-padded waveform, and the
lengths the model returns beside it (``waveform_lengths``) are dropped, so every text came back
as long as the longest of its batch. This subclass keeps them for msar synthesis models
(``model_type == "msar_multispeaker"``) and cuts each item to its own length: a batched text
comes back as it does alone. Any other model runs exactly as in transformers' class.

msar puts it in place of transformers' class for the ``"text-to-audio"`` task (alias
``"text-to-speech"``) when ``transformers.pipelines`` is imported (:mod:`msar_hf.pipelines`).
Remote code without msar installed gets transformers' own class: there, cut
``out["audio"]`` with the model's ``waveform_lengths`` or use ``batch_size=1``.
"""

from __future__ import annotations

from transformers import TextToAudioPipeline

#: the model types whose forward returns ``waveform_lengths`` beside a padded ``waveform``
MSAR_SYNTHESIS_TYPES = ("msar_multispeaker",)


class MsarTextToAudioPipeline(TextToAudioPipeline):
    """:class:`~transformers.TextToAudioPipeline` that gives msar synthesis models' batched items their own length."""

    def _keeps_lengths(self) -> bool:
        return getattr(self.model.config, "model_type", None) in MSAR_SYNTHESIS_TYPES and not self.model.can_generate()

    def _forward(self, model_inputs, **kwargs):
        if not self._keeps_lengths():
            return super()._forward(model_inputs, **kwargs)
        kwargs = self._ensure_tensor_on_device(kwargs, device=self.device)
        if kwargs["generate_kwargs"]:  # as transformers says it for a forward-only model
            raise ValueError(
                "You're using the `TextToAudioPipeline` with a forward-only model, but `generate_kwargs` is non "
                "empty. For forward-only TTA models, please use `forward_params` instead of `generate_kwargs`. "
                f"For reference, the `generate_kwargs` used here are: {kwargs['generate_kwargs'].keys()}")
        output = self.model(**model_inputs, **kwargs["forward_params"], return_dict=True)
        # a dict: the pipeline's batch iterator hands each item its own row of both
        return {"waveform": output.waveform, "waveform_lengths": output.waveform_lengths}

    def postprocess(self, audio):
        if isinstance(audio, dict) and audio.get("waveform_lengths") is not None:
            length = int(audio["waveform_lengths"].reshape(-1)[0])
            audio = {"waveform": audio["waveform"][..., :length]}
        return super().postprocess(audio)


__all__ = ["MSAR_SYNTHESIS_TYPES", "MsarTextToAudioPipeline"]
