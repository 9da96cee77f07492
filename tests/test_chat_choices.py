"""How one choice's text is cut and shown as its tokens come (trainer/tasks/causal_lm/choices.py), with a byte
tokenizer whose tokens are single UTF-8 bytes, so a character or a stop string can be split anywhere."""

from __future__ import annotations

from trainer.tasks.causal_lm.choices import ChoiceText, first_stop, held_back

END = 999  # the end-of-turn token


class ByteTokenizer:
    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return bytes(token for token in ids if token < 256).decode("utf-8", errors="replace")

    def convert_ids_to_tokens(self, token: int) -> str:
        return "<eot>"


def _feed(choice: ChoiceText, text: str) -> list[str]:
    return [choice.feed(byte) for byte in text.encode()]


def test_a_stop_string_split_over_tokens_is_never_shown_in_part() -> None:
    choice = ChoiceText(ByteTokenizer(), [END], ("<END>",))
    pieces = _feed(choice, "Hi <E")
    assert "".join(pieces) == "Hi " and choice.finish is None  # "<E" may become the stop string: held back
    pieces += _feed(choice, "ND> more")
    assert "".join(pieces) == "Hi " and choice.finish == "stop" and choice.text == "Hi "
    assert choice.tokens == len("Hi <END>")  # the tokens up to the one that completed the stop string


def test_a_held_back_prefix_that_never_completes_is_shown_once_it_cannot() -> None:
    choice = ChoiceText(ByteTokenizer(), [END], ("<END>",))
    shown = "".join(_feed(choice, "a <EN"))
    assert shown == "a "
    shown += "".join(_feed(choice, "X"))
    assert shown == "a <ENX"
    shown += choice.feed(END)
    assert shown == choice.text == "a <ENX" and choice.finish == "stop"


def test_half_a_character_waits_and_a_cut_reply_drops_it() -> None:
    choice = ChoiceText(ByteTokenizer(), [END])
    shown = "".join(choice.feed(byte) for byte in "Nova é".encode()[:-1])
    assert shown == "Nova " and "\ufffd" not in shown
    assert choice.end() == "" and choice.text == "Nova " and choice.finish == "length"


def test_the_end_of_turn_marker_written_out_as_text_ends_the_reply() -> None:
    choice = ChoiceText(ByteTokenizer(), [END])  # the stop token's text is "<eot>"
    shown = "".join(_feed(choice, "done<eot>ignored"))
    assert shown == choice.text == "done" and choice.finish == "stop"
    assert choice.feed(ord("x")) == "" and choice.tokens == len("done<eot>")  # nothing counts after the end


def test_first_stop_and_held_back() -> None:
    assert first_stop("a STOP b END", ("END", "STOP")) == 2
    assert first_stop("abc", ("x",)) is None
    assert held_back("text <EN", ("<END>", "<E")) == 3
    assert held_back("text", ("<END>",)) == 0
