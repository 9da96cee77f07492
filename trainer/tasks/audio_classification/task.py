"""Audio classification as a Task: the shared media-classification task with the audio modality."""

from __future__ import annotations

from trainer.data import kinds
from trainer.tasks.audio_classification.modality import DEFAULT_MODEL, AudioModality
from trainer.tasks.base import Purpose
from trainer.tasks.media.task import MediaClassificationTask

PURPOSE = Purpose(
    title="audio classification",
    kind=kinds.AUDIO_CLASSIFICATION,
    examples=(
        "recognise machine sounds",
        "detect the spoken command in a short clip",
        "classify bird songs",
        "tell whether a recording is speech or music",
        "hear when an engine is about to fail",
        "detect coughing in phone recordings",
        "tell which instrument is playing in a clip",
        "identify the emotion in a caller's voice",
    ),
    cues=(
        r"sounds",
        r"sound (clips?|files?|of)",
        r"audio",
        r"recordings?",
        r"recorded",
        r"voices?",
        r"speech",
        r"spoken",
        r"noises?",
        r"songs?",
        r"music",
        r"microphone",
        r"acoustic",
        r"hear(d|ing)?",
        r"wav|mp3|flac",
        r"(audio|sound|voice) clips?",
    ),
    model=DEFAULT_MODEL,
    family="a pretrained speech encoder (Whisper-base's encoder, 20 M parameters) with a new head",
    why=(
        "Naming what a sound is is audio classification: Whisper's encoder, pretrained on hours of audio, turns "
        "a clip into features a new head learns your classes from, with a few dozen clips per class."
    ),
    data="a folder with one subfolder of audio clips per class, or a table with a column of audio files and a label",
    labels="categories",
)


class AudioClassification(MediaClassificationTask):
    name = "audio-classification"
    title = "audio classification"
    data_kinds = (kinds.AUDIO_CLASSIFICATION,)
    aliases = ("audio", "sound", "sounds", "audio-classifier", "speech-commands")
    modality = AudioModality()
    pipeline_tag = "audio-classification"
    shown_settings = (*MediaClassificationTask.shown_settings, "clip_seconds")
    inspect_hint = "Say **fine-tune on this** for a plan to train an audio classifier."
    purposes = (PURPOSE,)


TASK = AudioClassification()
