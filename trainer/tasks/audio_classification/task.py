"""Audio classification as a Task: the shared media-classification task with the audio modality."""

from __future__ import annotations

from trainer.data import kinds
from trainer.tasks.audio_classification.modality import AudioModality
from trainer.tasks.media.task import MediaClassificationTask


class AudioClassification(MediaClassificationTask):
    name = "audio-classification"
    title = "audio classification"
    data_kinds = (kinds.AUDIO_CLASSIFICATION,)
    aliases = ("audio", "sound", "sounds", "audio-classifier", "speech-commands")
    modality = AudioModality()
    pipeline_tag = "audio-classification"
    shown_settings = (*MediaClassificationTask.shown_settings, "clip_seconds")
    inspect_hint = "Say **fine-tune on this** for a plan to train an audio classifier."


TASK = AudioClassification()
