"""An Ollama Modelfile for a GGUF export: its chat template said in Ollama's Go template syntax, its stop markers
and its system prompt.

Ollama does not run Jinja, so the model's Jinja chat template is reduced to the text around each message: it
is rendered with marker messages, and the text between the markers gives each role's prefix and suffix, the
text a conversation without a system message starts with (a default system prompt, a BOS) and the generation
prompt. The Go template built from those pieces is then rendered (by the small renderer below, which speaks
exactly the subset emitted) for sample conversations and compared with the Jinja rendering; a template whose
turns do not reduce to fixed text around each message (one that rewrites the content, numbers the turns, or
refuses a system message) is refused in one sentence instead of being approximated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trainer.core.errors import UserError

Messages = list[dict[str, Any]]

MARK = {"system": "SYSTEM_7d1f", "user": "USER_4a2c", "assistant": "ASSISTANT_9e3b", "user2": "USER_2b8f"}
# Conversations the Go template must render exactly as the Jinja template does.
SAMPLES: tuple[Messages, ...] = (
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Who are you?"}],
    [
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "4."},
        {"role": "user", "content": "And 3 + 3?\nSay it in words."},
    ],
    [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Bonjour !"},
        {"role": "user", "content": "Thanks"},
    ],
)


@dataclass(frozen=True)
class TurnShape:
    """A chat template as fixed text around each message."""

    system: tuple[str, str]
    user: tuple[str, str]
    assistant: tuple[str, str]
    head: str  # what a conversation without a system message starts with
    generation: str  # the generation prompt, after the last message


def render_jinja(template: str, messages: Messages, generation: bool, specials: dict[str, str]) -> str:
    """The Jinja chat template rendered as transformers renders it."""
    from transformers.utils.chat_template_utils import render_jinja_template

    render: Any = render_jinja_template
    rendered, _ = render(conversations=[messages], chat_template=template, add_generation_prompt=generation, **specials)
    return str(rendered[0])


def _split(text: str, markers: Sequence[str]) -> list[str] | None:
    parts: list[str] = []
    for marker in markers:
        if text.count(marker) != 1:
            return None
        before, text = text.split(marker)
        parts.append(before)
    return [*parts, text]


def _unexpressible(why: str) -> UserError:
    return UserError(
        f"The model's chat template cannot be said in Ollama's template syntax ({why}); write the Modelfile's "
        "TEMPLATE by hand from the template in tokenizer_config.json."
    )


def turn_shape(template: str, specials: dict[str, str]) -> TurnShape:
    """The fixed text around each message of `template`; UserError when it has none."""
    s, u, a, u2 = MARK["system"], MARK["user"], MARK["assistant"], MARK["user2"]
    with_system = [{"role": "system", "content": s}, {"role": "user", "content": u}]
    with_system += [{"role": "assistant", "content": a}, {"role": "user", "content": u2}]
    try:
        full = render_jinja(template, with_system, False, specials)
        prompt = render_jinja(template, with_system, True, specials)
        plain = render_jinja(template, with_system[1:], False, specials)
    except Exception as error:  # a template may raise_exception() on a conversation it does not accept
        raise _unexpressible(f"it refuses a plain system, user, assistant, user conversation: {error}") from error
    parts, bare = _split(full, [s, u, a, u2]), _split(plain, [u, a, u2])
    if parts is None or bare is None or not prompt.startswith(full):
        raise _unexpressible("it does not write each message's content once, unchanged")
    p0, p1, p2, p3, p4 = parts
    user_suffix = p4
    if not p2.startswith(user_suffix) or bare[1:] != [p2, p3, p4]:
        raise _unexpressible("the text around a message depends on where the message is")
    assistant_suffix = user_suffix if p3.startswith(user_suffix) else ""
    user_prefix = p3[len(assistant_suffix) :]
    if not p1.endswith(user_prefix) or not bare[0].endswith(user_prefix):
        raise _unexpressible("a user turn does not start the same way after every other message")
    shape = TurnShape(
        system=(p0, p1[: len(p1) - len(user_prefix)]),
        user=(user_prefix, user_suffix),
        assistant=(p2[len(user_suffix) :], assistant_suffix),
        head=bare[0][: len(bare[0]) - len(user_prefix)],
        generation=prompt[len(full) :],
    )
    for sample in SAMPLES:
        expected = render_jinja(template, sample, True, specials)
        if render_go(go_template(shape), sample) != expected:
            raise _unexpressible(f"a sample conversation renders differently ({sample[-1]['content']!r})")
    return shape


def _literal(text: str) -> str:
    if '"""' in text:
        raise _unexpressible('its text holds """, which ends a Modelfile string')
    return text.replace("{{", '{{ "{{" }}')


def go_template(shape: TurnShape, drop_prefix: str = "") -> str:
    """Ollama's TEMPLATE for `shape`; `drop_prefix` (the BOS text, when the runtime adds BOS itself) is left out
    of the start. Only the subset render_go reads: if/else, range over .Messages, eq on .Role."""
    system_prefix, head = shape.system[0], shape.head
    if drop_prefix:
        system_prefix = system_prefix.removeprefix(drop_prefix)
        head = head.removeprefix(drop_prefix)
    out = "{{ if .System }}" + _literal(system_prefix) + "{{ .System }}" + _literal(shape.system[1])
    out += ("{{ else }}" + _literal(head) if head else "") + "{{ end }}"
    out += '{{ range .Messages }}{{ if eq .Role "user" }}' + _literal(shape.user[0]) + "{{ .Content }}"
    out += _literal(shape.user[1]) + '{{ else if eq .Role "assistant" }}' + _literal(shape.assistant[0])
    out += "{{ .Content }}" + _literal(shape.assistant[1]) + "{{ end }}{{ end }}" + _literal(shape.generation)
    return out


_ACTION = re.compile(r"\{\{(.*?)\}\}", re.S)


def render_go(template: str, messages: Messages) -> str:
    """Render the Go template subset go_template writes, with Ollama's values: .System is the conversation's
    system messages joined, .Messages every message (Ollama keeps the system ones in the list too)."""
    system = "\n\n".join(str(m["content"]) for m in messages if m["role"] == "system")
    tokens: list[tuple[str, str]] = []
    position = 0
    for match in _ACTION.finditer(template):
        tokens.append(("text", template[position : match.start()]))
        tokens.append(("action", match.group(1).strip()))
        position = match.end()
    tokens.append(("text", template[position:]))
    out: list[str] = []
    _run(tokens, 0, len(tokens), {"System": system, "Messages": messages}, None, out)
    return "".join(out)


def _block_end(tokens: list[tuple[str, str]], start: int) -> tuple[list[int], int]:
    """The else/else-if positions of the block opened before `start`, and the position of its end."""
    depth, branches = 0, list[int]()
    for index in range(start, len(tokens)):
        kind, text = tokens[index]
        if kind != "action":
            continue
        if text.startswith(("if ", "range ")):
            depth += 1
        elif text == "end":
            if depth == 0:
                return branches, index
            depth -= 1
        elif depth == 0 and text.startswith("else"):
            branches.append(index)
    raise ValueError("unclosed block")


def _value(expression: str, context: dict[str, Any], item: dict[str, Any] | None) -> Any:
    expression = expression.strip()
    if expression.startswith('"'):
        return expression.strip('"')
    if expression in (".Content", ".Role") and item is not None:
        return item[expression[1:].lower()]
    if expression.startswith("eq "):
        left, right = expression[3:].split(" ", 1)
        return _value(left, context, item) == _value(right, context, item)
    return context.get(expression.lstrip("."), "")


def _run(
    tokens: list[tuple[str, str]], start: int, stop: int, context: dict[str, Any], item: Any, out: list[str]
) -> None:
    index = start
    while index < stop:
        kind, text = tokens[index]
        if kind == "text":
            out.append(text.replace('{{ "{{" }}', "{{"))
            index += 1
        elif text.startswith("if "):
            branches, end = _block_end(tokens, index + 1)
            bounds = [index, *branches, end]
            for at, (left, right) in enumerate(zip(bounds, bounds[1:], strict=False)):
                head = tokens[left][1]
                condition = head[3:] if at == 0 else head.removeprefix("else").strip().removeprefix("if ")
                if head == "else" or _value(condition, context, item):
                    _run(tokens, left + 1, right, context, item, out)
                    break
            index = end + 1
        elif text == "range .Messages":
            _, end = _block_end(tokens, index + 1)
            for message in context["Messages"]:
                _run(tokens, index + 1, end, context, message, out)
            index = end + 1
        else:
            out.append(str(_value(text, context, item)))
            index += 1


def modelfile(gguf_name: str, template: str, stops: Sequence[str], system: str | None) -> str:
    """The Modelfile's text: FROM the GGUF beside it, TEMPLATE, SYSTEM when there is one, a stop per marker."""
    lines = [f"FROM ./{gguf_name}", f'TEMPLATE """{template}"""']
    if system:
        lines.append(f'SYSTEM """{_literal(system)}"""')
    lines += [f"PARAMETER stop {_quoted(stop)}" for stop in dict.fromkeys(stops) if stop]
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
