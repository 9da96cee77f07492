"""Guided mode's rules on everyday phrasing: slots that are not names, chat shorthand, and words a rule misread."""

from __future__ import annotations

import pytest

from agent import meaning
from agent.intents import classify, classify_by_rules, parse_placeholders
from agent.meaning import Ranking, mend_typos


def test_a_preposition_after_call_it_names_nothing() -> None:
    assert parse_placeholders("serve it so I can call it over http") == {}
    assert parse_placeholders("I want to call the model from python") == {}
    assert parse_placeholders("call it Nova over http") == {"name": "Nova"}
    assert parse_placeholders("call it Nova by Acme") == {"name": "Nova", "author": "Acme"}


def test_chat_shorthand_is_written_out_before_typos_are_mended() -> None:
    assert mend_typos("whats in it pls") == "what's in it please"
    assert mend_typos("hows run 2") == "how's run 2"
    assert classify_by_rules(mend_typos("hows it going")).name == "status"


def test_go_live_is_not_a_yes_and_how_did_one_run_beat_another_explains() -> None:
    assert classify_by_rules("go live with the model").name != "go"
    assert classify_by_rules("go ahead").name == "go"
    assert classify_by_rules("how did run 2 beat run 1").name == "explain"
    assert classify_by_rules("how come run 3 beats run 1?").name == "explain"


def test_picking_a_run_up_again_resumes_it() -> None:
    intent = classify_by_rules("pick up run 3 again")
    assert (intent.name, intent.run_ids) == ("resume", [3])


def test_a_refusal_is_never_read_as_a_yes(monkeypatch: pytest.MonkeyPatch) -> None:
    yes = Ranking([("go", 0.9), ("other", 0.05), ("stop", 0.05)])
    monkeypatch.setattr(meaning, "rank", lambda message: yes)
    for reply in ("nah", "not yet", "don't", "wait a sec"):
        assert classify(reply).name == "unknown"
    assert classify("fire away").name == "go"
