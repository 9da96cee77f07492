"""The text of each choice of a chat completion as its tokens come: end-of-turn tokens, the request's stop
strings, and what must not be shown yet (half a character, the start of what may become a stop string).

Decoding is incremental, as vLLM and TGI do it: each new token is decoded together with the few tokens before
it, and only the text it adds is kept, so a long reply costs one short decode per token instead of decoding the
whole reply again. The final text is one full decode, so a streamed reply ends with exactly the text the whole
reply has.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Any

from trainer.tasks.causal_lm.stops import stop_texts

# One step's news for a streamed request: (choice index, new text, finish reason once it finished).
Event = tuple[int, str, str | None]


def first_stop(text: str, strings: tuple[str, ...], start: int = 0) -> int | None:
    """Where the first of `strings` begins in `text` (searching from `start`), or None."""
    found = [index for index in (text.find(string, max(0, start)) for string in strings) if index >= 0]
    return min(found) if found else None


def held_back(text: str, strings: tuple[str, ...]) -> int:
    """How many characters at the end of `text` could be the start of one of `strings` (not shown yet)."""
    longest = 0
    for string in strings:
        for size in range(min(len(string) - 1, len(text)), longest, -1):
            if text.endswith(string[:size]):
                longest = size
                break
    return longest


class ChoiceText:
    """One choice: fed one generated token id at a time until it finishes ("stop" at an end-of-turn token or a
    stop string, "length" when the generation ended without one)."""

    def __init__(self, tokenizer: Any, stops: list[int], stop_strings: tuple[str, ...] = ()):
        self.tokenizer, self.stops = tokenizer, frozenset(stops)
        # An end-of-turn marker written out as plain text ends the reply like the token does.
        markers = tuple(marker for marker in stop_texts(tokenizer, stops) if marker not in stop_strings)
        self.strings = tuple(stop_strings) + markers
        self.longest = max((len(string) for string in self.strings), default=0)
        self.ids: list[int] = []  # the reply's tokens, without the end-of-turn token
        self.tokens = 0  # completion tokens, the end-of-turn token included
        self.text = ""  # decoded so far (final once finished)
        self.sent = ""  # handed out so far
        self.finish: str | None = None
        self._prefix, self._read = 0, 0  # incremental decoding: the context tokens and the first unread one

    def feed(self, token: int) -> str:
        """Take the next token; returns the text that is now safe to show ("" when there is none)."""
        if self.finish is not None:
            return ""
        self.tokens += 1
        if token in self.stops:
            return self._close("stop")
        self.ids.append(token)
        before = len(self.text)
        self.text += self._new_text()
        cut = first_stop(self.text, self.strings, before - self.longest + 1) if self.strings else None
        if cut is not None:
            return self._close("stop")
        return self._send(self.text[: len(self.text) - held_back(self.text, self.strings)])

    def end(self) -> str:
        """The generation is over: a choice still open was cut ("length"); returns the text not yet shown."""
        return "" if self.finish is not None else self._close("length")

    def _new_text(self) -> str:
        decode = self.tokenizer.decode
        context = decode(self.ids[self._prefix : self._read], skip_special_tokens=True)
        text = decode(self.ids[self._prefix :], skip_special_tokens=True)
        if len(text) <= len(context) or text.endswith("\ufffd"):
            return ""  # nothing yet, or the middle of a character split over tokens
        self._prefix, self._read = self._read, len(self.ids)
        return text[len(context) :]

    def _close(self, finish: str) -> str:
        self.finish = finish
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        cut = first_stop(text, self.strings)
        text = text if cut is None else text[:cut]
        # Cut at the token limit, a reply can end inside a character: drop the half character.
        self.text = text.rstrip("\ufffd") if finish == "length" else text
        return self._send(self.text)

    def _send(self, text: str) -> str:
        if len(text) <= len(self.sent) or not text.startswith(self.sent):
            return ""
        piece, self.sent = text[len(self.sent) :], text
        return piece


def feeder(choices: list[ChoiceText], rows: int, cancelled: threading.Event, events: queue.Queue[Any] | None) -> Any:
    """A transformers StoppingCriteria that feeds each generated token to its choice and stops a row once its
    choice finished (or all rows once `cancelled` is set). With one row for several choices (greedy decoding
    answers them all alike) every choice reads that row. Each step's news goes to `events` when given."""
    import torch
    from transformers import StoppingCriteria

    class FeedChoices(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            last = input_ids[:, -1].tolist()
            news = []
            for index, choice in enumerate(choices):
                was_open = choice.finish is None
                piece = choice.feed(int(last[index if rows > 1 else 0]))
                if was_open and (piece or choice.finish is not None):
                    news.append((index, piece, choice.finish))
            if events is not None:
                events.put(news)  # every step, with news or without: the reader sees the generation is alive
            done = [choice.finish is not None for choice in choices]
            rows_done = done if rows > 1 else [all(done)]
            return torch.tensor(rows_done, dtype=torch.bool, device=input_ids.device) | cancelled.is_set()

    return FeedChoices()


def finish_all(choices: list[ChoiceText]) -> list[Event]:
    """End every choice still open ("length"), with the text each had not shown yet."""
    return [(index, choice.end(), "length") for index, choice in enumerate(choices) if choice.finish is None]


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Sampling from `seed` (the same seed and request give the same answer), leaving the process's random
    state as it was; nothing changes without a seed. Call it holding the model's lock."""
    if seed is None:
        yield
        return
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed % 2**64)  # OpenAI's seeds may be negative; torch takes 0 to 2**64 - 1
        yield


def usage(prompt_tokens: int, choices: list[ChoiceText]) -> dict[str, int]:
    """OpenAI's usage: the prompt once, the tokens of every choice."""
    completion = sum(choice.tokens for choice in choices)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion, "total_tokens": prompt_tokens + completion}
