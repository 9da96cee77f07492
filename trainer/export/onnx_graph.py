"""A trained network as an ONNX graph, through torch.onnx's exporter (torch.export + onnxscript).

torch.onnx.export(dynamo=True) is used, not the older TorchScript tracer: torch.export keeps the batch and sequence
lengths symbolic, so one graph takes any batch and any text length up to the model's positions. The tracer records
the Python decisions transformers makes from the example's shapes (how the attention mask is built), and a graph
traced on one batch was off by 7e-3 in its logits on another; the torch.export graph agreed to 1e-8.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainer.core.errors import UserError

FILE_NAME = "model.onnx"
# A graph over this size keeps its weights in a file beside it (ONNX's protobuf limit is 2 GB).
SINGLE_FILE_BYTES = 1_800_000_000


class NamedInputs(torch.nn.Module):
    """A network called with its inputs by name, as positional tensors (what torch.export wants), returning one
    tensor: the logits, or for a regression head the value in the target's units (the training scale undone)."""

    def __init__(self, network: torch.nn.Module, names: Sequence[str], scale: tuple[float, float] | None = None):
        super().__init__()
        self.network, self.names, self.scale = network, list(names), scale

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        output = self.network(**dict(zip(self.names, tensors, strict=True)))
        logits = output.logits if hasattr(output, "logits") else output
        if self.scale is None:
            return logits
        mean, std = self.scale
        return logits.reshape(logits.shape[0], -1)[:, 0] * std + mean


def export_graph(
    module: NamedInputs,
    example: Mapping[str, np.ndarray],
    dynamic: Mapping[int, str],
    output: str,
    out_dir: Path,
    longest: int | None = None,
) -> dict[str, Any]:
    """Write `module` as out_dir/model.onnx, every input dynamic along the axes `dynamic` names ({0: "batch",
    1: "sequence"}), the sequence axis at most `longest`; returns facts for the manifest (opset, inputs, size)."""
    import torch.onnx

    names = list(example)
    tensors = tuple(torch.from_numpy(np.ascontiguousarray(example[name])) for name in names)
    dims = {
        axis: torch.export.Dim(label, max=longest) if axis > 0 and longest else torch.export.Dim(label)
        for axis, label in dynamic.items()
    }
    shapes = {"tensors": tuple({axis: dims[axis] for axis in dynamic} for _ in names)}
    module.eval()
    try:
        with torch.no_grad(), _quiet():
            program = torch.onnx.export(
                module,
                tensors,
                None,
                input_names=names,
                output_names=[output],
                dynamic_shapes=shapes,
                dynamo=True,
                verbose=False,
            )
    except Exception as error:  # the exporter raises many kinds; the user needs one sentence and the cause
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise UserError(
            f"torch.onnx could not export this model ({reason.rstrip('.')}); export it in the 'hub' format instead, "
            "or report the model's architecture."
        ) from error
    if program is None:
        raise UserError("torch.onnx returned no graph for this model; export it in the 'hub' format instead.")
    path = out_dir / FILE_NAME
    weights = sum(p.numel() * p.element_size() for p in module.parameters())
    program.save(path, external_data=weights > SINGLE_FILE_BYTES)
    graph = program.model_proto
    opset = next((entry.version for entry in graph.opset_import if entry.domain in ("", "ai.onnx")), None)
    return {
        "opset": opset,
        "inputs": [
            {"name": name, "dtype": str(example[name].dtype), "shape": _shape(example[name].shape, dynamic)}
            for name in names
        ],
        "output": output,
        "bytes": path.stat().st_size,
    }


@contextmanager
def _quiet() -> Iterator[None]:
    """The exporter's own notes (torchvision's missing operators, axis names shared by several inputs, deprecations
    inside torch) say nothing about the user's model, so they are kept out of the export's output."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def _shape(shape: Sequence[int], dynamic: Mapping[int, str]) -> list[int | str]:
    return [dynamic.get(axis, size) for axis, size in enumerate(shape)]


def session(out_dir: Path) -> Any:
    """An onnxruntime session of out_dir/model.onnx on the CPU (UserError when onnxruntime is missing)."""
    try:
        import onnxruntime
    except ImportError:
        raise UserError(
            "Running an ONNX export needs onnxruntime; install it with `pip install 'tunechat[onnx]'`."
        ) from None
    path = Path(out_dir) / FILE_NAME
    if not path.is_file():
        raise UserError(f"'{out_dir}' holds no {FILE_NAME}; export the run to ONNX again.")
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_session(graph: Any, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """The graph's one output for `inputs`; inputs the graph does not take are left out."""
    wanted = {item.name for item in graph.get_inputs()}
    return np.asarray(graph.run(None, {name: value for name, value in inputs.items() if name in wanted})[0])


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
