"""Load a finished run's classifier and score texts with it.

Used by the HTTP server of a deployed model and by anything else that wants predictions. Torch and
Transformers are imported only when a model is loaded, so the server can refuse a busy port (or
print its help) without paying several seconds of imports.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.core.errors import UserError
from trainer.core.fileio import read_json
from trainer.core.workspace import run_id_from_dir

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_MAX_LENGTH = 128


class Predictor:
    """A text classifier in eval mode; `predict` returns every class with its softmax score."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        max_length: int = DEFAULT_MAX_LENGTH,
        run_id: int | None = None,
        pairs: bool = False,
    ):
        self.model = model.eval()
        # True when the model was trained on text pairs (and so takes pairs).
        self.pairs = pairs
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.run_id = run_id
        # The model the run fine-tuned (its config's "model"), which a server's /info names.
        self.model_id: str | None = None
        id2label: dict[Any, Any] = dict(model.config.id2label or {})
        count = len(id2label) or 2
        self.labels: list[str] = [str(id2label.get(i, f"LABEL_{i}")) for i in range(count)]
        # The HTTP server answers from several threads; a fast tokenizer refuses concurrent calls
        # ("Already borrowed") and the CPU is the bottleneck anyway, so predictions run one at a time.
        self._lock = threading.Lock()

    @classmethod
    def from_run(cls, run_dir: Path) -> Predictor:
        """Load run_dir/model; the run's config.json says whether remote code is trusted and the max length."""
        loaded = load_run_model(run_dir)
        predictor = cls(
            loaded.model, loaded.tokenizer, max_length=loaded.max_length, run_id=loaded.run_id, pairs=loaded.pairs
        )
        predictor.model_id = loaded.base_model
        return predictor

    def predict(
        self, texts: list[str], batch_size: int = 32, pairs: list[str] | None = None
    ) -> list[list[dict[str, Any]]]:
        """For each text (or text pair), every label with its probability, most likely first."""
        import torch

        results: list[list[dict[str, Any]]] = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                logits = self.model(**self.encode(texts, pairs, start, batch_size)).logits
                probabilities = torch.softmax(logits.float(), dim=-1).tolist()
                for row in probabilities:
                    ranked = sorted(zip(self.labels, row, strict=True), key=lambda pair: pair[1], reverse=True)
                    results.append([{"label": label, "score": float(score)} for label, score in ranked])
        return results

    def encode(self, texts: list[str], pairs: list[str] | None, start: int, batch_size: int) -> Any:
        """The batch of texts (with their second texts, for pairs) from `start`, as the model's tensors."""
        batch = [str(text) for text in texts[start : start + batch_size]]
        second = [str(text) for text in pairs[start : start + batch_size]] if pairs is not None else None
        return self.tokenizer(
            batch, second, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )


@dataclass
class LoadedRun:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    # The length inputs are cut at: the run's max_length, within what the tokenizer allows.
    max_length: int
    run_id: int | None
    # True when the run trained on text pairs.
    pairs: bool
    # The model the run fine-tuned, as its config names it.
    base_model: str | None = None


def load_run_model(run_dir: Path) -> LoadedRun:
    """A finished encoder run's model/ and tokenizer, the max length to cut inputs at, and the run's id.

    The run's config.json says whether remote code is trusted and the max length.
    """
    run_dir = Path(run_dir)
    run_id = run_id_from_dir(run_dir)
    name = f"Run {run_id}" if run_id is not None else f"The run folder '{run_dir}'"
    if not (run_dir / "model" / "config.json").is_file():
        raise UserError(f"{name} has no trained model yet; wait until it succeeds.")
    config: dict[str, Any] = {}
    if (run_dir / "config.json").is_file():
        try:
            config = read_json(run_dir / "config.json")
        except ValueError:
            raise UserError(f"{name}'s config.json is not valid JSON; train the run again.") from None
    trust_remote_code = bool(config.get("trust_remote_code", False))
    max_length = int(config.get("max_length") or DEFAULT_MAX_LENGTH)

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model_dir = run_dir / "model"
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust_remote_code, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(
            model_dir, use_safetensors=True, trust_remote_code=trust_remote_code, local_files_only=True
        )
    except (OSError, ValueError, KeyError) as error:
        text = str(error).strip()
        reason = text.splitlines()[0].rstrip(".") if text else type(error).__name__
        raise UserError(f"{name}'s model folder could not be loaded ({reason}); train the run again.") from error
    # Never ask for more positions than the model has, or long inputs would crash it.
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000:
        max_length = min(max_length, limit)
    base_model = str(config["model"]) if config.get("model") else None
    return LoadedRun(model, tokenizer, max_length, run_id, bool(config.get("text_pair_column")), base_model)
