"""Numbers, durations and tables as the chat and the command line write them."""

from __future__ import annotations

import re
from typing import Any

# A `|` not already escaped (data passed through ui.render.safe arrives with its `|` escaped once).
_BARE_PIPE = re.compile(r"(?<!\\)((?:\\\\)*)\|")


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = max(0, int(round(seconds)))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def fmt_number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
            return f"{float(mantissa):g}e{int(exponent)}"  # 1e-4, not 0.0001 or 1.00e-04
        return f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"
    return str(value)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A markdown table. Cells that came from data must be passed through ui.render.safe.data_text first; here
    only a bare `|` and line breaks are escaped, which keeps the renderers' own markup in a cell working."""

    def cell(value: Any) -> str:
        return _BARE_PIPE.sub(r"\1\\|", fmt_number(value).replace("\r", " ").replace("\n", " "))

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
