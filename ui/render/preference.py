"""What a preference run (DPO, ORPO, KTO) did to held-out examples, before and after training, as markdown."""

from __future__ import annotations

from typing import Any

from ui.render.format import fmt_number, table


def _share(value: Any) -> str:
    return "–" if value is None else f"{float(value):.0%}"


def render_preference(preference: dict[str, Any] | None) -> str:
    """The held-out figures of evaluation.json's "preference" record; "" when the run has none."""
    if not preference:
        return ""
    before, after = preference.get("before") or {}, preference.get("after") or {}
    if preference.get("kind") == "labels":
        rows = [
            [
                "before",
                "",
                "",
                fmt_number(before.get("desirable_logp_per_token")),
                fmt_number(before.get("undesirable_logp_per_token")),
            ],
            [
                "after",
                _share(after.get("desirable_rose")),
                _share(after.get("undesirable_fell")),
                fmt_number(after.get("desirable_logp_per_token")),
                fmt_number(after.get("undesirable_logp_per_token")),
            ],
        ]
        heading = (
            f"**Held-out answers** ({before.get('desirable', 0)} desirable, {before.get('undesirable', 0)} "
            f"undesirable): likelihood moved the right way for {_share(after.get('reward_accuracy'))}."
        )
        headers = ["", "desirable rose", "undesirable fell", "desirable log-lik/token", "undesirable log-lik/token"]
        return heading + "\n\n" + table(headers, rows)
    rows = [
        ["before", _share(before.get("likelihood_accuracy")), _share(before.get("normalized_accuracy")), "–", "–"],
        [
            "after",
            _share(after.get("likelihood_accuracy")),
            _share(after.get("normalized_accuracy")),
            _share(after.get("reward_accuracy")),
            fmt_number(after.get("reward_margin")),
        ],
    ]
    heading = (
        f"**Held-out pairs** ({before.get('pairs', 0)}): share ranked chosen above rejected, by the model's "
        f"log-likelihood (summed, per token) and by the implicit reward beta x (log pi - log ref) with beta "
        f"{fmt_number(preference.get('beta'))} (zero before training, when the model is its own reference)."
    )
    headers = ["", "log-likelihood", "per token", "reward accuracy", "reward margin"]
    return heading + "\n\n" + table(headers, rows)
