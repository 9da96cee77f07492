"""Why one run beat another, on run folders written here as the workers leave them (config.json, metrics.jsonl,
evaluation.json, predictions.jsonl): the winner and margin, the settings that differ, what the curves say, per-class
and per-example changes, and the next run offered as the plan that waits for a yes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from agent.assistant import Assistant
from tools.context import ToolContext
from tools.explain_tools import explain_comparison
from tools.pending import pending_action
from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_json
from trainer.core.workspace import Workspace
from trainer.evaluate.explain import explain_runs
from trainer.evaluate.explain_next import propose_next, pushed, read_curve
from trainer.plan.config import resolve_config
from trainer.store.registry import Registry
from ui.render import MARKDOWN

TEXTS = ["great food", "cold soup", "lovely staff", "slow service", "**bold** | `tick` ![x](http://evil/x.png)", "ok"]
LABELS = ["pos", "neg", "pos", "neg", "neg", "pos"]


def write_lines(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def curve(train: list[float], validation: list[float]) -> list[dict[str, Any]]:
    """metrics.jsonl rows: training losses at steps 1..n, one validation loss per epoch spread evenly."""
    rows: list[dict[str, Any]] = [{"step": i + 1, "epoch": (i + 1) / 4, "loss": loss} for i, loss in enumerate(train)]
    per = len(train) // len(validation)
    for epoch, loss in enumerate(validation, start=1):
        rows.append({"step": epoch * per, "epoch": float(epoch), "eval_loss": loss, "eval_macro_f1": 0.5})
    return rows


def classifier_run(
    ws: Workspace,
    registry: Registry,
    data: str,
    predicted: list[str],
    macro_f1: float,
    per_class: dict[str, float],
    log: list[dict[str, Any]],
    **settings: Any,
) -> int:
    config = resolve_config({"data": data, "text_column": "text", "label_column": "label", **settings})
    run_id = registry.create_run(config.to_dict())
    run_dir = ws.run_dir(run_id)
    run_dir.mkdir(parents=True)
    config.save(run_dir / "config.json")
    write_lines(run_dir / "metrics.jsonl", log)
    write_lines(
        run_dir / "predictions.jsonl",
        [
            {"input": text, "label": label, "predicted": guess, "confidence": 0.8, "correct": guess == label}
            for text, label, guess in zip(TEXTS, LABELS, predicted, strict=True)
        ],
    )
    evaluation = {
        "accuracy": sum(g == t for g, t in zip(predicted, LABELS, strict=True)) / len(LABELS),
        "macro_f1": macro_f1,
        "labels": ["neg", "pos"],
        "per_class": {label: {"f1": f1, "support": 3} for label, f1 in per_class.items()},
        "test_size": len(LABELS),
    }
    atomic_write_json(run_dir / "evaluation.json", evaluation)
    registry.update_run(run_id, status="succeeded", run_dir=str(run_dir), metrics=evaluation)
    return run_id


def make_two_runs(ws: Workspace, registry: Registry, data: str) -> tuple[int, int]:
    """Run 1 (2 epochs) and run 2 (3 epochs, still improving) on the same six test examples: examples 3 and 4
    flip from wrong to right, example 2 from right to wrong."""
    first = classifier_run(
        ws,
        registry,
        data,
        ["pos", "neg", "pos", "pos", "pos", "neg"],
        0.5,
        {"neg": 0.4, "pos": 0.6},
        curve([0.69, 0.68, 0.66, 0.64, 0.63, 0.62, 0.61, 0.60], [0.66, 0.62]),
        epochs=2,
    )
    second = classifier_run(
        ws,
        registry,
        data,
        ["pos", "neg", "neg", "neg", "neg", "neg"],
        2 / 3,
        {"neg": 0.75, "pos": 0.5},
        curve([0.69, 0.66, 0.60, 0.55, 0.50, 0.46, 0.42, 0.40, 0.39], [0.60, 0.52, 0.45]),
        epochs=3,
    )
    return first, second


def two_runs(ws: Workspace, registry: Registry, reviews_tsv: Path) -> tuple[int, int]:
    return make_two_runs(ws, registry, ws.import_file(reviews_tsv).name)


def test_the_explanation_names_winner_differences_curves_classes_and_flips(
    ws: Workspace, registry: Registry, reviews_tsv: Path
) -> None:
    first, second = two_runs(ws, registry, reviews_tsv)
    result = explain_runs(ws, registry, [second, first])  # the order named does not matter: loser first

    assert result["run_ids"] == [first, second] and result["winner"] == second and result["loser"] == first
    assert result["metric"] == "macro_f1" and result["margin"] == pytest.approx(1 / 6)
    assert (
        result["headline"]
        == f"Run {second} beat run {first} on macro-F1: 0.667 against 0.500 (0.167 higher, 33% better)."
    )
    assert result["differences"] == [{"field": "epochs", "values": [2.0, 3.0]}]
    assert [c["trend"] for c in result["curves"]] == ["improving", "improving"]
    assert "fell from 0.520 to 0.450" in result["curves"][1]["sentence"]
    assert [(r["label"], r["f1"], r["change"]) for r in result["per_class"]] == [
        ("neg", [0.4, 0.75], pytest.approx(0.35)),
        ("pos", [0.6, 0.5], pytest.approx(-0.1)),
    ]
    examples = result["examples"]
    assert examples["kind"] == "classification" and examples["comparable"] and examples["examples"] == 6
    assert [(e["input"], e["label"], e["before"], e["after"]) for e in examples["fixed"]] == [
        ("slow service", "neg", "pos", "neg"),
        (TEXTS[4], "neg", "pos", "neg"),
    ]
    assert [(e["input"], e["before"], e["after"]) for e in examples["broken"]] == [("lovely staff", "pos", "neg")]
    assert (examples["fixed_count"], examples["broken_count"], examples["both_right"], examples["both_wrong"]) == (
        2,
        1,
        2,
        1,
    )
    # Only the epochs differed, the winner had more and was still improving: one more step that way.
    assert result["next_run"]["like_run"] == second and result["next_run"]["changes"] == {"epochs": 4}
    assert "differed only in epochs 3 against 2" in result["next_run"]["reason"]
    assert Path(result["plot"]).read_bytes().startswith(b"\x89PNG")
    # Six test examples and a net gain of one: the explanation says the gap may be chance.
    assert result["notes"] == [
        "The test split has only 6 examples and the runs differ on 1 of them on balance, so the gap may be chance; "
        "a larger test split or another seed would tell."
    ]


def test_the_next_run_waits_for_a_yes_and_the_chat_shows_it_safely(
    ws: Workspace, registry: Registry, reviews_tsv: Path
) -> None:
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    upload = ws.uploads_for(session) / "reviews.tsv"  # the chat's own upload, so it may plan a run on it
    upload.parent.mkdir(parents=True, exist_ok=True)
    upload.write_bytes(reviews_tsv.read_bytes())
    first, second = make_two_runs(ws, registry, str(upload))

    # Guided mode: the words, the table with the flipped examples (data shown as text), the plot, the yes.
    reply = assistant.reply(session, f"why did run {second} beat run {first}?")
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(reply.text)
    assert "<img" not in html and "evil" not in html and "<strong>bold</strong>" not in html
    assert "wrong → right" in html and "slow service" in html and "right → wrong" in html
    assert "Next run:</strong> like run 2 with epochs 4." in html
    assert "Say <strong>yes</strong> to start it" in html
    [step] = reply.steps
    assert step.name == "explain_comparison" and reply.images == [str(Path(step.result["plot"]).resolve())]

    ctx = assistant.context(session)
    waiting = pending_action(ctx)
    assert waiting is not None and waiting["kind"] == "rerun"
    assert waiting["arguments"]["like_run"] == second and waiting["arguments"]["config"]["epochs"] == 4
    assert len(registry.list_runs()) == 2  # nothing started before the yes

    # The command line describes the same next run without a plan that waits.
    result = explain_comparison(ToolContext(ws, registry), [first, second], propose=False)
    assert "plan" not in result and result["next_run"]["changes"] == {"epochs": 4}


@pytest.mark.slow
def test_examples_are_compared_only_when_both_runs_saw_the_same_ones(
    ws: Workspace, registry: Registry, reviews_tsv: Path
) -> None:
    first, second = two_runs(ws, registry, reviews_tsv)
    rows = [json.loads(line) for line in (ws.run_dir(second) / "predictions.jsonl").read_text().splitlines()]
    # The same examples in another order still pair up by example ...
    write_lines(ws.run_dir(second) / "predictions.jsonl", rows[::-1])
    assert explain_runs(ws, registry, [first, second])["examples"]["fixed_count"] == 2
    # ... but other examples (another seed's split) are not compared, and the explanation says so.
    rows[0]["input"] = "a review only run 2 was tested on"
    write_lines(ws.run_dir(second) / "predictions.jsonl", rows)
    examples = explain_runs(ws, registry, [first, second])["examples"]
    assert not examples["comparable"] and "were tested on different examples" in examples["note"]
    (ws.run_dir(first) / "predictions.jsonl").unlink()
    examples = explain_runs(ws, registry, [first, second])["examples"]
    assert (
        examples["note"] == f"Run {first} wrote no per-example predictions (predictions.jsonl), so no flips are shown."
    )


def test_regression_lists_the_examples_whose_error_changed_most(ws: Workspace, registry: Registry) -> None:
    def run(predicted: list[float], rmse: float) -> int:
        config = resolve_config({"task": "text-regression", "data": "x.csv", "seed": 1 if rmse > 1 else 2})
        run_id = registry.create_run(config.to_dict())
        run_dir = ws.run_dir(run_id)
        run_dir.mkdir(parents=True)
        config.save(run_dir / "config.json")
        targets = [1.0, 2.0, 3.0, 4.0]
        write_lines(
            run_dir / "predictions.jsonl",
            [
                {"input": f"text {i}", "target": t, "predicted": p, "error": p - t}
                for i, (t, p) in enumerate(zip(targets, predicted, strict=True))
            ],
        )
        registry.update_run(run_id, status="succeeded", run_dir=str(run_dir), metrics={"rmse": rmse})
        return run_id

    worse, better = run([1.5, 2.0, 1.0, 4.2], 1.2), run([1.0, 2.5, 2.9, 4.0], 0.3)
    result = explain_runs(ws, registry, [worse, better])
    assert result["winner"] == better and "(0.900 lower)" in result["headline"]
    examples = result["examples"]
    assert [(e["input"], round(e["change"], 2)) for e in examples["improved"]] == [
        ("text 2", -1.9),
        ("text 0", -0.5),
        ("text 3", -0.2),
    ]
    assert [(e["input"], e["change"]) for e in examples["worsened"]] == [("text 1", 0.5)]
    # Only the seed differed: the next run is a third seed, to measure the noise first.
    assert result["next_run"]["changes"] == {"seed": 3}


def test_sft_runs_compare_their_held_out_answers(ws: Workspace, registry: Registry) -> None:
    def run(answers: list[str], eval_loss: float) -> int:
        config = resolve_config(
            {"task": "sft", "data": "chat.jsonl", "method": "lora", "lora_r": 8 if eval_loss > 1 else 16}
        )
        run_id = registry.create_run(config.to_dict())
        run_dir = ws.run_dir(run_id)
        run_dir.mkdir(parents=True)
        config.save(run_dir / "config.json")
        held_out = [
            {"prompt": p, "messages": [{"role": "user", "content": p}], "reference": r, "base": "?", "tuned": a}
            for p, r, a in zip(["capital of France?", "2+2?"], ["Paris", "4"], answers, strict=True)
        ]
        atomic_write_json(run_dir / "evaluation.json", {"eval_loss": eval_loss, "held_out_answers": held_out})
        write_lines(run_dir / "metrics.jsonl", curve([2.0, 1.9, 1.8, 1.79, 1.78, 1.78, 1.77, 1.77], [1.5, 1.49]))
        registry.update_run(run_id, status="succeeded", run_dir=str(run_dir), metrics={"eval_loss": eval_loss})
        return run_id

    first, second = run(["It is Lyon", "4"], 1.4), run(["Paris", "five"], 0.9)
    result = explain_runs(ws, registry, [first, second])
    examples = result["examples"]
    assert examples["kind"] == "answers" and (examples["fixed_count"], examples["broken_count"]) == (1, 1)
    assert [e["input"] for e in examples["improved"]] == ["capital of France?"]
    assert [e["input"] for e in examples["worsened"]] == ["2+2?"]
    # The one difference (LoRA rank 16 against 8) won with a levelled curve: push it one step further.
    assert result["next_run"]["changes"] == {"lora_r": 32}
    assert "gain came from that setting" in result["next_run"]["reason"]


def test_curve_rules_and_the_next_run_they_suggest() -> None:
    overfit = read_curve(5, curve([0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1, 0.05], [0.5, 0.45, 0.6]))
    assert overfit["trend"] == "overfitting" and overfit["best_epoch"] == 2.0
    assert "lowest (0.450) at epoch 2 and rose to 0.600" in overfit["sentence"]
    configs = {5: {"epochs": 3.0, "learning_rate": 1e-4}, 4: {"epochs": 3.0, "learning_rate": 5e-5}}
    assert propose_next(5, configs, ["learning_rate"], overfit, 4)["changes"] == {"epochs": 2}
    flat = read_curve(5, curve([0.7, 0.5, 0.45, 0.44, 0.44, 0.44, 0.44, 0.44], [0.5, 0.499]))
    assert flat["trend"] == "levelled"
    # A learning rate that helped is pushed by the same ratio (at most 2x); two differences point nowhere.
    assert propose_next(5, configs, ["learning_rate"], flat, 4)["changes"] == {"learning_rate": 2e-4}
    nothing = propose_next(5, configs, ["learning_rate", "batch_size"], flat, 4)
    assert nothing["changes"] == {} and "vary one setting at a time" in nothing["reason"]
    # Fewer epochs won because the longer run overfitted: neither more nor fewer epochs follows.
    short, long = {"epochs": 4.0}, {"epochs": 6.0}
    improving = read_curve(2, curve([0.7, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15], [0.5, 0.3]))
    settled = propose_next(2, {2: short, 3: long}, ["epochs"], improving, 3, overfit)
    assert settled["changes"] == {} and "run 3's 6 epochs overfitted" in settled["reason"]
    # A winner still improving is not proposed fewer epochs, nor more when the longer run lost.
    unsettled = propose_next(2, {2: short, 3: long}, ["epochs"], improving, 3, flat)
    assert unsettled["changes"] == {} and "run 3 trained longer (6 epochs) and lost" in unsettled["reason"]
    assert pushed("freeze_layers", 0, 2) is None  # already at its bound
    assert pushed("learning_rate", 1e-5, 1e-4) == 5e-6


def test_explaining_needs_two_runs(ws: Workspace, registry: Registry) -> None:
    with pytest.raises(UserError, match="needs two runs"):
        explain_comparison(ToolContext(ws, registry))
    with pytest.raises(UserError, match="exactly two different runs"):
        explain_runs(ws, registry, [1, 1])


def test_the_command_line_prints_the_command_of_the_next_run(
    ws: Workspace, registry: Registry, reviews_tsv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ui.cli import main

    first, second = two_runs(ws, registry, reviews_tsv)
    assert main(["compare", str(first), str(second), "--explain"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"**Run {second} beat run {first} on macro-F1")
    config = ws.run_dir(second) / "config.json"
    assert f"Start the next run: `tunechat train --config {config} --epochs 4`" in printed
    assert pending_action(ToolContext(ws, registry)) is None  # the command line leaves no plan waiting
    assert main(["compare", str(first), str(second), "--explain", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["examples"]["fixed_count"] == 2


@pytest.mark.slow
def test_llm_mode_calls_the_tool_and_shows_only_its_plot(ws: Workspace, registry: Registry, reviews_tsv: Path) -> None:
    from scripted_model import ScriptedChatModel, say, tool_call

    first, second = two_runs(ws, registry, reviews_tsv)
    model = ScriptedChatModel(
        script=[tool_call("explain_comparison", run_ids=[first, second]), say("Run 2 won: more epochs helped.")]
    )
    assistant = Assistant(chat_model=model, presenter=MARKDOWN)
    reply = assistant.reply(assistant.new_session(), "why did run 2 beat run 1?")
    [step] = reply.steps
    assert step.name == "explain_comparison" and step.ok
    assert step.result["examples"]["fixed_count"] == 2
    assert reply.images == [str((ws.root / "comparisons" / f"explain-{first}-{second}.png").resolve())]


def test_a_run_without_the_metric_names_no_winner(ws: Workspace, registry: Registry, reviews_tsv: Path) -> None:
    first, second = two_runs(ws, registry, reviews_tsv)
    registry.update_run(first, status="failed", metrics={})
    (ws.run_dir(first) / "evaluation.json").unlink()
    result = explain_runs(ws, registry, [first, second])
    assert result["winner"] is None and result["next_run"] is None and result["run_ids"] == [first, second]
    assert result["headline"] == f"Run {first} has no macro-F1 (failed), so neither run can be called the winner."
    assert result["examples"]["fixed_count"] == 2  # its predictions were written before it failed
