"""What differs between kinds of media (images, sounds): the one interface the media-classification task asks.

A `Modality` says which files it reads (suffixes, HTTP content types, a data kind of trainer/data/kinds.py), how
it decodes bytes (one sentence for what it cannot read), how it describes files for inspection and draws a
preview of one (a thumbnail, a waveform), and which model it trains: `load_model` gives a `MediaModel`, a network
with the batching (and training augmentation) and the freezing it needs. Everything else (reading class folders,
zips and CSVs of paths, splits, the training loop, evaluation, the HTTP API) is shared, in trainer/tasks/media/.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image

    from trainer.plan.config import RunConfig
    from trainer.tasks.media.examples import MediaSet

# Called with a one-line description of a slow step (installing or converting a model), for progress.
Progress = Callable[[str], None]


class MediaModel(ABC):
    """A classifier of one modality: its network, how it turns decoded files into a batch, how it freezes and saves.

    `network(**batch)` returns logits (a tensor, or an output with `.logits`), one row per item.
    """

    def __init__(self, network: torch.nn.Module, labels: list[str]):
        self.network = network
        self.labels = list(labels)

    @abstractmethod
    def batch(self, items: list[Any], train: bool, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """The network's inputs for decoded items; `train` adds the augmentation the run config allows."""

    @abstractmethod
    def layer_count(self) -> int:
        """How many layers (blocks) of the backbone `freeze` counts; freezing them all is a linear probe."""

    @abstractmethod
    def freeze(self, n: int) -> dict[str, int]:
        """Freeze the input layers and the lowest `n` layers; {"trainable", "frozen"} parameter counts."""

    @abstractmethod
    def save(self, folder: Path) -> None:
        """Write the trained model (config.json, safetensors weights, what `batch` needs) into `folder`."""

    def compact(self, item: Any) -> Any:
        """A decoded item reduced to what `batch` uses (e.g. a photo shrunk towards the input size), so more fit
        in memory; items with an `nbytes` are counted by it."""
        return item

    def head_layer(self) -> torch.nn.Module:
        """The first layer of the new head, whose input is the backbone's embedding: by default the network's last
        linear layer."""
        import torch

        return [module for module in self.network.modules() if isinstance(module, torch.nn.Linear)][-1]

    def features(self, items: list[Any], batch_size: int = 64) -> np.ndarray:
        """The backbone's embedding of decoded items, without augmentation: what enters the network's last linear
        layer (the classification head), which a linear probe fits on."""
        import numpy as np
        import torch

        head = self.head_layer()
        captured: list[Any] = []
        hook = head.register_forward_hook(lambda module, args, output: captured.append(args[0].detach().float()))
        was_training = self.network.training
        self.network.eval()
        rng = np.random.default_rng(0)
        try:
            with torch.inference_mode():
                for start in range(0, len(items), batch_size):
                    self.network(**self.batch(list(items[start : start + batch_size]), False, rng))
        finally:
            hook.remove()
            self.network.train(was_training)
        # A head over per-frame features (n, frames, d) sees them pooled: the mean over frames.
        rows = [block.mean(dim=1) if block.dim() == 3 else block.reshape(block.shape[0], -1) for block in captured]
        return torch.cat(rows).numpy()

    def train_mode(self) -> None:
        """Put the network in training mode; frozen layers with batch norm keep their pretrained statistics."""
        self.network.train()


class Modality(ABC):
    """One kind of media file. Subclasses set the class attributes and implement the methods."""

    # "image" or "audio": the word in sentences ("'x.png' is not a readable image").
    noun: ClassVar[str]
    # The data kind (trainer/data/kinds.py) of class folders of these files.
    kind: ClassVar[str]
    # File name endings it reads (lowercase, with the dot).
    suffixes: ClassVar[tuple[str, ...]]
    # HTTP Content-Type prefixes a served model takes as raw bytes, e.g. ("image/",), and one full type for examples.
    content_types: ClassVar[tuple[str, ...]]
    example_content_type: ClassVar[str]
    # The base model when the user names none: an offline catalog name (trainer/models/catalog.py) or a hub id.
    default_model: ClassVar[str]
    # The share of this machine's measured matmul rate its default network reaches on a CPU, for time estimates.
    # Measured on EfficientNet-Lite0 on 2 cores: depthwise convolutions and batch norm use the cores far less well
    # than one large matmul; a transformer's layers are large matmuls.
    cpu_efficiency: ClassVar[float] = 0.12
    # Examples a linear probe (only the new head trains) sees in all, passes x training files, to settle on this
    # modality's features (the planner keeps the passes between 5 and 30).
    probe_examples: ClassVar[int] = 3000

    @abstractmethod
    def decode(self, data: bytes, name: str) -> Any:
        """The decoded file (what `MediaModel.batch` and `preview` take); UserError when the bytes are not a
        readable file of this kind, whose sentence starts with `name` in quotes and says what is wrong, without
        advice: the caller adds what happens ("it was skipped", "send a readable image file")."""

    def group_of(self, name: str) -> str | None:
        """The group an example belongs to, from its file name relative to the upload (e.g. a speaker), so a
        group split can hold out whole groups; None when the modality knows none."""
        return None

    @abstractmethod
    def describe(self, items: list[tuple[str, Any]]) -> dict[str, Any]:
        """Facts for the inspection report about decoded (name, item) pairs: sizes, modes, durations, ...

        Keys are short phrases and values short strings or numbers ("image size (min / median / max)":
        "32 x 32 / 32 x 32 / 32 x 32 px"): the chat lists them as they are, whatever the modality."""

    @abstractmethod
    def preview(self, item: Any, size: int) -> Image.Image:
        """A picture of a decoded item at most `size` pixels wide and high (a thumbnail, a waveform)."""

    def recording(self, item: Any) -> bytes | None:
        """A decoded item as a short WAV file the chat can play, None for media that is seen, not heard."""
        return None

    @abstractmethod
    def load_model(self, config: RunConfig, labels: list[str], progress: Progress | None = None) -> MediaModel:
        """The run's base model (`config.model`; pretrained unless the config says otherwise) with a new head."""

    @abstractmethod
    def load_trained(self, folder: Path) -> MediaModel:
        """A model saved by `MediaModel.save`, for evaluation and serving."""

    @abstractmethod
    def plan_settings(self, media: MediaSet, settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """Settings this modality chooses from the data (e.g. image size, flips, clip length), each with a reason;
        `settings` are the user's own, which win."""

    @abstractmethod
    def layer_count(self, model: str) -> int | None:
        """How many freezable layers the base model `model` has, without loading its weights; None if unknown."""

    @abstractmethod
    def train_gflops(self, config: RunConfig) -> float | None:
        """Forward GFLOPs per example of `config.model` at the run's input size (for time estimates)."""

    def accepts(self, content_type: str) -> bool:
        """True when an HTTP Content-Type names raw bytes of this kind (image/png, audio/wav, ...)."""
        kind = content_type.split(";", 1)[0].strip().lower()
        return any(kind.startswith(prefix) for prefix in self.content_types)

    def readable(self, name: str) -> bool:
        return name.lower().endswith(self.suffixes)
