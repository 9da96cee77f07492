"""The method advisor on descriptions it was never tuned on: the share it gets right, asks about, or gets wrong.

Written once after the advisor's cues and examples were set and never used to change them (the descriptions
tests/test_advisor.py asserts are separate). A question counts as "asked", not right, except where asking is the
right answer (a rating on a small scale). Prints each miss and the totals; loads the bundled MiniLM once.

    python benchmarks/method_advisor.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainer.plan.advisor import advise  # noqa: E402

TC, PAIR, TR, SFT, DPO, KTO = "text classification", "text-pair classification", "text regression", "sft", "dpo", "kto"
IMAGE, AUDIO, ASK = "image classification", "audio classification", "ask"

HELD_OUT = [
    ("work out which support emails are about billing", TC),
    ("weed out fake job postings", TC),
    ("tell me if a tweet is sarcastic", TC),
    ("triage incoming bug reports by severity", TC),
    ("mark chat messages that contain personal data", TC),
    ("is this paragraph relevant to that search query", PAIR),
    ("find near-duplicate product listings", PAIR),
    ("does the summary agree with the article", PAIR),
    ("how many minutes will a delivery take given the order notes", TR),
    ("put a number on how toxic a comment is", TR),
    ("predict the house price from the listing text", TR),
    ("give every support answer a quality grade from 1 to 5", ASK),
    ("rate each essay on a scale of one to ten", ASK),
    ("answer employee questions about our HR policies", SFT),
    ("write commit messages from diffs in our team's style", SFT),
    ("reply to customers in Spanish like our best agent", SFT),
    ("turn support transcripts into ticket summaries", SFT),
    ("our annotators chose the better of two completions for each prompt", DPO),
    ("make the model prefer concise replies to rambling ones", DPO),
    ("steer it away from the unsafe completion toward the safe one", DPO),
    ("users pressed a like or dislike button under each reply", KTO),
    ("each generated answer is flagged acceptable or unacceptable by a reviewer", KTO),
    ("recognise handwritten letters on envelopes", IMAGE),
    ("check solar panels for cracks from drone photos", IMAGE),
    ("classify skin lesions in dermatology images", IMAGE),
    ("sort screenshots by which app they show", IMAGE),
    ("detect glass breaking in security microphone audio", AUDIO),
    ("tell dog barks from doorbells", AUDIO),
    ("identify the spoken digit in a short clip", AUDIO),
    ("catch a failing fan from its hum", AUDIO),
]


def outcome(description: str, want: str) -> tuple[str, str]:
    advice = advise(description)
    got = advice.title if advice.title in (TC, PAIR, TR, IMAGE, AUDIO) else advice.task
    if want == ASK:
        return ("right" if advice.question and advice.choices else "wrong"), got
    if advice.question:
        return "asked", got
    return ("right" if got == want else "wrong"), got


def main() -> None:
    started = time.perf_counter()
    counts = {"right": 0, "asked": 0, "wrong": 0}
    for description, want in HELD_OUT:
        result, got = outcome(description, want)
        counts[result] += 1
        if result != "right":
            print(f"{result:5}  {description!r}: wanted {want}, got {got}")
    total = len(HELD_OUT)
    shares = ", ".join(f"{name} {count}/{total} ({count / total:.0%})" for name, count in counts.items())
    print(f"{shares}; {time.perf_counter() - started:.1f} s; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
