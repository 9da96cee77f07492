"""The README.md of an ONNX export: what the folder holds and a few lines of onnxruntime that run it."""

from __future__ import annotations

from typing import Any

TEXT_CODE = """\
```python
import json
import numpy as np
import onnxruntime as ort
from transformers import AutoTokenizer  # or tokenizers.Tokenizer.from_file("tokenizer.json")

folder = "."  # this folder
settings = json.load(open(f"{folder}/inference.json"))
tokenizer = AutoTokenizer.from_pretrained(folder)
session = ort.InferenceSession(f"{folder}/model.onnx", providers=["CPUExecutionProvider"])
wanted = {item.name for item in session.get_inputs()}

texts = [EXAMPLE]
encoded = tokenizer(TOKENIZE, padding=True, truncation=True, max_length=settings["max_length"], return_tensors="np")
feed = {name: value.astype(np.int64) for name, value in encoded.items() if name in wanted}
output = session.run(None, feed)[0]
"""

IMAGE_CODE = """\
```python
import json
import numpy as np
import onnxruntime as ort
from PIL import Image

folder = "."  # this folder
settings = json.load(open(f"{folder}/inference.json"))
p = settings["preprocessing"]
session = ort.InferenceSession(f"{folder}/model.onnx", providers=["CPUExecutionProvider"])

def pixels(path):
    image = Image.open(path).convert("RGB")
    side = min(image.size)  # the centre square, resized (bilinear) to the input size
    box = ((image.width - side) / 2, (image.height - side) / 2, (image.width + side) / 2, (image.height + side) / 2)
    image = image.resize((p["image_size"], p["image_size"]), Image.Resampling.BILINEAR, box=box)
    array = (np.asarray(image, dtype=np.float32) / 255 - p["image_mean"]) / p["image_std"]
    return array.transpose(2, 0, 1).astype(np.float32)

batch = np.stack([pixels("photo.jpg")])
output = session.run(None, {"pixel_values": batch})[0]
"""

AUDIO_CODE = """\
```python
import json
import numpy as np
import onnxruntime as ort
import soundfile
from transformers import AutoFeatureExtractor

folder = "."  # this folder
settings = json.load(open(f"{folder}/inference.json"))
p = settings["preprocessing"]
extractor = AutoFeatureExtractor.from_pretrained(folder)
session = ort.InferenceSession(f"{folder}/model.onnx", providers=["CPUExecutionProvider"])

samples, rate = soundfile.read("clip.wav", dtype="float32", always_2d=True)
samples = samples.mean(axis=1)  # mono; resample to p["sampling_rate"] first if the file has another rate
length = round(p["clip_seconds"] * p["sampling_rate"])
clip = np.zeros(length, dtype=np.float32)
clip[: min(length, len(samples))] = samples[:length]  # cut, or padded with silence at the end
features = extractor([clip], sampling_rate=p["sampling_rate"], return_tensors="np", **p["extractor_options"])
feed = {item.name: features[item.name] for item in session.get_inputs()}
output = session.run(None, feed)[0]
"""

CLASSIFY = """\
probabilities = np.exp(output - output.max(-1, keepdims=True))
probabilities /= probabilities.sum(-1, keepdims=True)
for row in probabilities:
    print({label: round(float(p), 4) for label, p in zip(settings["labels"], row)})
```
"""

REGRESS = """\
print(output)  # one value per text, in the target's own units (the training scale is inside the graph)
```
"""


def readme(settings: dict[str, Any], run_id: int, task_title: str) -> str:
    """The export's README.md, from its inference.json settings."""
    kind = settings["input"]
    inputs = ", ".join(
        f"`{item['name']}` {item['dtype']} [{', '.join(str(axis) for axis in item['shape'])}]"
        for item in settings["inputs"]
    )
    if kind == "text":
        pairs = bool(settings.get("pairs"))
        example = '"the first text", "the second text"' if not pairs else '("a question", "its answer")'
        code = TEXT_CODE.replace("EXAMPLE", example)
        code = code.replace("TOKENIZE", "[a for a, _ in texts], [b for _, b in texts]" if pairs else "texts")
        files = "the tokenizer (`tokenizer.json`, `tokenizer_config.json`) and the model's `config.json` (id2label)"
        preparing = (
            f"Texts{' (pairs of texts)' if pairs else ''} are tokenized with the tokenizer here, padded per batch and "
            f"cut at {settings['max_length']} tokens, as the run did."
        )
    elif kind == "image":
        code = IMAGE_CODE
        p = settings["preprocessing"]
        files = "the preprocessing the run used (`preprocess.json`)"
        preparing = (
            f"Images are turned into RGB, their centre square resized to {p['image_size']} x {p['image_size']} "
            f"pixels (bilinear) and normalised with mean {p['image_mean']} and deviation {p['image_std']}."
        )
    else:
        code = AUDIO_CODE
        p = settings["preprocessing"]
        files = "the feature extractor (`preprocessor_config.json`) and the clip settings (`audio.json`)"
        preparing = (
            f"Sounds are mono at {p['sampling_rate']} Hz, cut or padded with silence to {p['clip_seconds']:g} s, and "
            "turned into the model's features by the feature extractor here."
        )
    regression = settings.get("output") == "value"
    what = "a value per input (regression)" if regression else f"logits over {len(settings.get('labels') or [])} labels"
    labels = "" if regression else f"\nLabels, in the order of the logits: {', '.join(settings['labels'])}.\n"
    return (
        f"# Run {run_id} as ONNX\n\n"
        f"A {task_title} model exported by tunechat with torch.onnx (opset {settings.get('opset')}) and checked "
        "against the trained model in onnxruntime (see the parity report in manifest.json).\n\n"
        f"- `model.onnx`: inputs {inputs}; output `{settings['output']}`: {what}.\n"
        f"- `inference.json`: labels, input names and preprocessing; {files}.\n"
        f"{labels}\n"
        f"{preparing}\n\n"
        "## Run it with onnxruntime\n\n"
        "`pip install onnxruntime numpy` (plus `transformers` for the tokenizer or feature extractor):\n\n"
        f"{code}{REGRESS if regression else CLASSIFY}"
    )
