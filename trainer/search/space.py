"""What a hyperparameter search may vary: one SearchParam per run setting, with its range.

A task answers its own space (`Task.search_space(config)`), so the settings that matter for it are searched
(learning rate and epochs for every task, frozen layers for encoders, LoRA rank and alpha for adapters). This
module imports no Optuna at load time: the planner and the chat describe a space without it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# How a setting is sampled: a float on a log scale, a float, a whole number, or one of a few choices.
LOG, FLOAT, INT, CHOICE = "log", "float", "int", "choice"


@dataclass(frozen=True)
class SearchParam:
    """One run setting (a RunConfig field) and the values a search tries for it."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[Any, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        """The range in a few words, e.g. "learning_rate 1e-05 to 0.0005 (log)"."""
        if self.kind == CHOICE:
            return f"{self.name} one of {', '.join(str(choice) for choice in self.choices)}"
        low, high = (int(self.low), int(self.high)) if self.kind == INT else (self.low, self.high)
        return f"{self.name} {low:g} to {high:g}" + (" (log)" if self.kind == LOG else "")

    def contains(self, value: Any) -> bool:
        if self.kind == CHOICE:
            return value in self.choices
        return isinstance(value, int | float) and self.low <= float(value) <= self.high

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "low": self.low, "high": self.high, "choices": list(self.choices)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchParam:
        return cls(
            data["name"], data["kind"], data.get("low", 0.0), data.get("high", 0.0), tuple(data.get("choices", ()))
        )


def log_range(name: str, value: float, factor: float, floor: float = 1e-7, ceiling: float = 1.0) -> SearchParam:
    """A log-scale range around `value`: from value/factor to value*factor, kept inside [floor, ceiling]."""
    return SearchParam(name, LOG, max(floor, value / factor), min(ceiling, value * factor))


def epoch_range(epochs: float) -> SearchParam:
    """Whole epochs from half the planned number to twice it (at least 1 to 2)."""
    planned = max(1, round(float(epochs or 1)))
    return SearchParam("epochs", INT, max(1, planned // 2), max(2, planned * 2))


def warmup_range() -> SearchParam:
    return SearchParam("warmup_ratio", FLOAT, 0.0, 0.2)


def encoder_space(config: dict[str, Any], layers: int = 0) -> list[SearchParam]:
    """What matters when fine-tuning an encoder: learning rate, epochs, batch size, warmup, and, when its depth
    (`layers`) is known before loading it, how many lower layers stay frozen (at most all but two)."""
    params = [
        log_range("learning_rate", float(config.get("learning_rate") or 1e-4), 5.0),
        epoch_range(config.get("epochs") or 1),
        SearchParam("batch_size", CHOICE, choices=(8, 16, 32)),
        warmup_range(),
    ]
    if layers > 2:
        params.append(SearchParam("freeze_layers", INT, 0, layers - 2))
    return params


def only(space: Iterable[SearchParam], names: Iterable[str] | None) -> list[SearchParam]:
    """The params of `space` named in `names` (all of them for None); an unknown name is an error the caller
    words (it lists what can be searched)."""
    params = list(space)
    if not names:
        return params
    wanted = list(dict.fromkeys(names))
    known = {param.name: param for param in params}
    missing = [name for name in wanted if name not in known]
    if missing:
        from trainer.core.errors import UserError

        raise UserError(
            f"This task cannot search {', '.join(missing)}; choose from {', '.join(known)} (or search them all)."
        )
    return [known[name] for name in wanted]


def suggest(trial: Any, space: Iterable[SearchParam]) -> dict[str, Any]:
    """The trial's value of each param (an Optuna Trial; an enqueued trial gets its fixed values back)."""
    values: dict[str, Any] = {}
    for param in space:
        if param.kind == CHOICE:
            values[param.name] = trial.suggest_categorical(param.name, list(param.choices))
        elif param.kind == INT:
            values[param.name] = trial.suggest_int(param.name, int(param.low), int(param.high))
        else:
            values[param.name] = trial.suggest_float(param.name, param.low, param.high, log=param.kind == LOG)
    return values


def planned_values(config: dict[str, Any], space: Iterable[SearchParam]) -> dict[str, Any]:
    """The plan's own value of each searched setting that lies in its range: the first trial, the one to beat."""
    values: dict[str, Any] = {}
    for param in space:
        value = config.get(param.name)
        if param.kind == INT and isinstance(value, float) and value.is_integer():
            value = int(value)
        if param.contains(value):
            values[param.name] = value
    return values
