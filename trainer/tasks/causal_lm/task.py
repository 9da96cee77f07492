"""The causal-LM tasks (SFT, DPO, ORPO, KTO) as Tasks: what they share; sft.py, dpo.py, orpo.py and kto.py name
each one, with its loader, its TRL config and trainer, and how its plan and evaluation differ."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from trainer.plan.plan import Plan, PlanRow
from trainer.store.registry import Registry
from trainer.tasks.base import MetricSpec, PlanRequest, Task

if TYPE_CHECKING:
    from trainer.plan.config import RunConfig
    from trainer.search.space import SearchParam
    from trainer.serve.http import ServedApi
    from trainer.tasks.causal_lm.preference_eval import LabelProbe, PairProbe

# The settings a causal-LM plan shows first, in this order (label, config field).
SHOWN = (
    ("task", "task"),
    ("base model", "model"),
    ("method", "method"),
    ("epochs", "epochs"),
    ("learning rate", "learning_rate"),
    ("batch size", "batch_size"),
    ("max length", "max_length"),
)


def hosted_split(count: int, config: dict[str, Any]) -> dict[str, list[int]]:
    """Train and validation rows of examples sent to a hosted API: exactly the split of a local run of the same
    file and seed (causal_lm/data.split), so both are evaluated on the same held-out rows; no test rows, as a
    local run holds out none."""
    from trainer.tasks.causal_lm.data import split_parts

    return split_parts(count, float(config["val_fraction"]), int(config["seed"]))


def data_rows(config: dict[str, Any], reasons: dict[str, str], missing: list[str]) -> list[PlanRow]:
    """Plan rows for the values filling the data's {{placeholders}} and the prompts sampled before and after."""
    rows = []
    values = [f"{{{{{name}}}}} → {value}" for name, value in (config.get("placeholders") or {}).items()]
    values += [f"{{{{{name}}}}} → ?" for name in missing]
    if values:
        rows.append(PlanRow("placeholders", ", ".join(values), reasons.get("placeholders", "")))
    if config.get("sample_prompts"):
        prompts = ", ".join(f"“{prompt}”" for prompt in config["sample_prompts"])
        rows.append(PlanRow("sample prompts", prompts, reasons.get("sample_prompts", "")))
    return rows


class CausalLMTask(Task):
    """Fine-tuning a causal language model with TRL and PEFT; LoRA by default."""

    methods = ("lora", "qlora", "full", "freeze")
    resumable = True
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("eval_loss", "loss on the held-out validation examples", -1, "eval loss"),
        MetricSpec("perplexity", "exp(validation loss): how surprised the model is by held-out answers", -1),
        MetricSpec("final_loss", "last logged training loss", -1),
        MetricSpec("train_seconds", "wall-clock training time", 0),
    )
    hosted_trainable = True
    rank_metric = "eval_loss"
    exports = ("merged", "gguf", "hub")
    pipeline_tag = "text-generation"
    # The values filling the data's {{placeholders}} are part of what the user says yes to.
    shown_settings = (*Task.shown_settings, "placeholders")
    # Full fine-tuning keeps a frozen copy of the model as the reference (preference methods like DPO); with
    # adapters the reference is the base model with the adapters switched off, which costs no memory.
    reference_model = False
    # True when the validation loss is a language-modelling loss, so exp(loss) is a perplexity.
    reports_perplexity: ClassVar[bool] = False
    # General ability is measured before and after training (trainer/tasks/causal_lm/forgetting.py) unless the
    # run's forgetting_check is off.
    checks_forgetting: ClassVar[bool] = True
    # True when the task trains on chats, so general_mix can add replayed general chats to its rows.
    replays_general: ClassVar[bool] = False

    def search_space(self, config: dict[str, Any]) -> list[SearchParam]:
        """The learning rate, epochs and warmup of every causal-LM run; with adapters also LoRA's rank and alpha."""
        from trainer.search.space import CHOICE, SearchParam

        params = super().search_space(config)
        if self.adapters and config.get("method") in ("lora", "qlora"):
            params += [
                SearchParam("lora_r", CHOICE, choices=(8, 16, 32)),
                SearchParam("lora_alpha", CHOICE, choices=(16, 32, 64)),
            ]
        return params

    def load_examples(self, path: Path, placeholders: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The file's examples in the form this task's TRL trainer takes (one-sentence UserError otherwise); plans
        count and size them. With `placeholders` (even empty) every {{placeholder}} is filled or the run refused."""
        raise NotImplementedError

    def trainer_class(self) -> Any:
        """The TRL trainer class that trains this task."""
        raise NotImplementedError

    def trl_args(self, common: dict[str, Any], config: RunConfig, choice: dict[str, Any], tokenizer: Any) -> Any:
        """The TRL config of a run from the arguments every causal-LM run shares (`common`)."""
        raise NotImplementedError

    def last_reply_only(self, tokenizer: Any) -> bool:
        """True when only the last assistant reply of each example trains (SFT with a template that has no
        {% generation %} spans); the others train on what their rows name."""
        return False

    def shape_rows(self, rows: list[dict[str, Any]], tokenizer: Any) -> list[dict[str, Any]]:
        """Rows reshaped for what trains (before lengths are checked); as loaded unless the task says otherwise."""
        return rows

    def training_rows(
        self, rows: list[dict[str, Any]], tokenizer: Any, config: RunConfig, choice: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Rows as the trainer takes them (SFT pre-tokenizes them for padding-free batches; the others take them
        as shaped)."""
        return rows

    def held_out_probe(self, rows: list[dict[str, Any]], config: RunConfig) -> PairProbe | LabelProbe | None:
        """What measures the run on held-out rows before and after training (preference tasks); None for none."""
        return None

    def answer_probe(self, rows: list[dict[str, Any]], config: RunConfig) -> Any | None:
        """What compares greedy answers to held-out prompts before and after training with the references (SFT:
        task metrics; preference tasks: closer to the chosen answer); None for none."""
        return None

    def plan_details(self, proposal: dict[str, Any], request: PlanRequest) -> list[PlanRow]:
        """Adjust a proposed config and its reasons for this task (in place); extra rows for the plan's table."""
        return []

    dry_runnable = True

    def dry_run(self, run_dir: Path) -> dict[str, Any]:
        """Load, tokenize everything, two steps on the longest examples, one evaluation, one generation."""
        from trainer.tasks.causal_lm.dry_run import dry_run_llm

        return dry_run_llm(run_dir, self)

    def propose(self, request: PlanRequest) -> Plan:
        from trainer.tasks.causal_lm.plan import propose_llm

        # Chats and pairs have no text or label column to choose.
        settings = {k: v for k, v in request.settings.items() if k not in ("text_column", "label_column")}
        proposal = propose_llm(request.path, settings, self, request.cache_dir)
        extra = self.plan_details(proposal, request)
        config, reasons, choices = proposal["config"], proposal["reasons"], proposal["choices"]
        table = [PlanRow(label, config[key], reasons.get(key, "")) for label, key in SHOWN]
        if "lora" in str(config["method"]):
            lora = f"r {config['lora_r']}, alpha {config['lora_alpha']}, dropout {config['lora_dropout']}"
            table.append(PlanRow("LoRA", lora + f", on {config['lora_target_modules']}", reasons.get("lora", "")))
        table += extra
        table += [
            PlanRow(name.replace("_", " "), value, reasons[name]) for name, value in choices.items() if name in reasons
        ]
        table += [PlanRow(*row) for row in proposal.get("fit_rows", [])]
        table += data_rows(config, reasons, proposal.get("placeholders_missing") or [])
        asks = ("placeholders_found", "placeholders_missing", "question")
        found = {key: proposal[key] for key in asks if key in proposal}
        return Plan(
            config=config,
            reasons=reasons,
            estimate_seconds=proposal.get("estimate_seconds"),
            rows=proposal["rows"],
            file=request.path.name,
            table=table,
            extra={"task": self.name, "choices": choices, **found},
        )

    def train(self, run_dir: Path, registry: Registry, run_id: int, resume: bool = False) -> dict[str, Any]:
        from trainer.tasks.causal_lm.train import train_llm_run

        return train_llm_run(run_dir, registry, run_id, resume=resume)

    def check_start(self, data_path: Path, config: dict[str, Any]) -> None:
        """Refuse data whose {{placeholders}} have no value yet (the worker checks again when it loads the data)."""
        from trainer.tasks.causal_lm.data_rules import check_placeholders

        check_placeholders(data_path, config)

    def resume_step(self, run_dir: Path) -> int | None:
        from trainer.tasks.causal_lm.checkpoints import latest_complete

        latest = latest_complete(run_dir / "checkpoints")
        return latest[0] if latest else None

    def launch_command(self, run_dir: Path, db_path: Path, run_id: int, resume: bool = False) -> list[str]:
        """Detect the GPUs and choose the launcher: `accelerate launch` across several (DDP), one process
        otherwise; command.sh (and accelerate.yaml) record it so the run can be repeated on a cluster node."""
        from trainer.plan.hardware import detect_hardware
        from trainer.plan.launch import distributed_plan, record_command, worker_command

        hardware = detect_hardware()
        gpu_memory = min((gpu["memory_gb"] for gpu in hardware.gpus), default=0.0)
        # Size is unknown before loading the model; plan DDP, which FSDP replaces only by the user's cluster config.
        plan = distributed_plan(hardware.num_gpus, need_gb=0.0, gpu_memory_gb=gpu_memory)
        precision = "bf16" if hardware.gpus and all(g.get("bf16") for g in hardware.gpus) else "no"
        command = worker_command(run_dir, db_path, run_id, plan=plan, resume=resume)
        record_command(run_dir, command, plan, mixed_precision=precision)
        return command

    def served_api(self) -> ServedApi:
        """OpenAI-compatible chat completions, so any OpenAI client can call the tuned model."""
        from trainer.serve import chat

        return chat.API
