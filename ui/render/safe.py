"""Strings that came from data, made safe to put into chat markdown.

Labels, cells, column names, file names, sample texts and model replies are data: a dataset can hold
`**bold**`, a `|` that splits a table, a backtick that opens a code span, raw HTML, or an image whose URL the
browser would fetch. Every renderer passes such strings through this module: `data_text` for running text and
table cells, `code` for a name shown as code, `prose` for tunechat's own sentences that quote data in
backticks. All three remove images and raw HTML from the data, then escape what is left (`escape`), so it
shows as the text it is.
"""

from __future__ import annotations

import re
from typing import Any

# A markdown image, inline (![alt](url)) or by reference (![alt][ref], ![alt]); its alt text is kept.
_IMAGE = r"!\[(?P<alt>(?:[^\[\]\\]|\\.)*)\](?:\([^)]*\)|\[[^\]]*\])?"
# A raw HTML tag, comment, declaration or processing instruction (CommonMark's inline raw HTML).
_TAG = r"<(?:[A-Za-z][A-Za-z0-9-]*\b[^>]*|/[A-Za-z][A-Za-z0-9-]*\s*|!--.*?--|![A-Za-z][^>]*|\?.*?\?)>"
DATA_MEDIA = re.compile(f"()(?:{_IMAGE}|{_TAG})", flags=re.DOTALL)
# The characters that start inline markup; `_` only where it is not inside a word (snake_case stays plain), `&`
# only where it would start an entity.
_SPECIAL = re.compile(r"[\\`*\[\]<|~]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])|&(?=#?[0-9A-Za-z]+;)")
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\u2028\u2029]")
_CODE_SPAN = re.compile(r"`([^`]*)`")
# What is shown for a value that held nothing but images and HTML, so it does not look empty.
REMOVED = "(image or HTML removed)"


def _alt_text(match: re.Match[str]) -> str:
    return (match.group(1) or "") + (match.group("alt") or "")


def strip_media(text: str) -> str:
    """Data without images (their alt text stays) and raw HTML; repeated, so pieces left around a removed one
    cannot form another."""
    original = text
    while True:
        stripped = DATA_MEDIA.sub(_alt_text, text)
        if stripped == text:
            break
        text = stripped
    return REMOVED if original.strip() and not text.strip() else text


def escape(text: str) -> str:
    """Backslash-escape every character of `text` that would start markup, so it renders as itself."""
    return _SPECIAL.sub(lambda match: "\\" + match.group(0), text)


def _one_line(value: Any) -> str:
    return _LINE_BREAKS.sub(" ", str(value))


def data_text(value: Any) -> str:
    """A value from data as markdown text: one line, no images or HTML, every markup character escaped.
    Safe in running text and in table cells."""
    return escape(strip_media(_one_line(value)))


def code(value: Any) -> str:
    """A value from data as an inline code span, fenced with more backticks than it holds (so a backtick in a
    column name cannot close the span early). For running text; table cells take `data_text`."""
    text = strip_media(_one_line(value))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_block(text: Any) -> str:
    """Lines from data (a log, say) as a fenced block, fenced with more backticks than they hold."""
    text = strip_media(str(text))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def prose(text: Any) -> str:
    """A sentence of tunechat's own that quotes data in `backticks` (a reason, a problem, an error): its quoted
    parts become safe code spans and everything else is escaped as data."""
    text = _one_line(text)
    parts: list[str] = []
    position = 0
    for match in _CODE_SPAN.finditer(text):
        parts.append(data_text(text[position : match.start()]))
        parts.append(code(match.group(1)))
        position = match.end()
    parts.append(data_text(text[position:]))
    return "".join(parts)


# The same media in markdown written by someone else (a model's answer), where a backslash may already escape it.
_UNESCAPED = r"(?<!\\)((?:\\\\)*)"
MARKDOWN_MEDIA = re.compile(f"{_UNESCAPED}(?:{_IMAGE}|{_TAG})", flags=re.DOTALL)
_IMAGE_START = re.compile(_UNESCAPED + r"!\[")


def strip_remote_media(markdown: str) -> str:
    """Markdown (say an LLM's answer, which may repeat what the data said) without images (their alt text stays)
    and raw HTML, the rest untouched. Whatever image syntax is left over (spread over lines, say) has its `!`
    escaped, so it cannot load. The chat's own images are attached as files, never linked from the text."""
    while True:
        stripped = MARKDOWN_MEDIA.sub(_alt_text, markdown)
        if stripped == markdown:
            break
        markdown = stripped
    return _IMAGE_START.sub(lambda match: match.group(1) + "\\![", markdown)
