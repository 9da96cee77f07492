"""Likely personal data in a text: email addresses, phone numbers and payment card numbers (Luhn-checked)."""

from __future__ import annotations

import re

# Parts bounded as mail allows (64 before the @, 63 per label): unbounded, a long run of letters before an @
# made the search quadratic, minutes for one long text.
EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,63}")
# Runs of digits with the separators people type; the checks below decide what they are.
DIGIT_RUN = re.compile(r"(?<![\w.])\+?\(?\d[\d ().-]{7,}\d(?![\w])")


# Card numbers as people write them: one run, or groups of four (Amex 4-6-5), with the issuers' prefixes.
CARD_LAYOUT = re.compile(r"\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{5}")
CARD_PREFIX = re.compile(r"4|5[1-5]|2[2-7]|3[47]|6(?:011|5)")
PHONE_GROUPS = re.compile(
    r"\+?\d{2,5}(?:[ -]\d{2,5}){1,4}|\(\d{2,5}\) ?\d{3,4}[ -]?\d{3,4}|\d{3}\.\d{3}\.\d{4}|\+\d{9,14}|0\d{9,11}"
)
DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}[-.]\d{2}[-.]\d{4}")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def find_pii(text: str) -> list[str]:
    """Kinds of personal data in a text: 'email', 'phone', 'card' (each at most once)."""
    kinds: list[str] = []
    if "@" in text and EMAIL.search(text):
        kinds.append("email")
    phone = card = False
    for match in DIGIT_RUN.finditer(text):
        raw = match.group().strip()
        digits = re.sub(r"\D", "", raw)
        if CARD_LAYOUT.fullmatch(raw) and CARD_PREFIX.match(digits) and 13 <= len(digits) <= 19 and luhn_ok(digits):
            card = True
        elif 9 <= len(digits) <= 15 and PHONE_GROUPS.fullmatch(raw) and not DATE.match(raw):
            # Phone numbers are written in groups of digits; decimals, dates and sums are not phones.
            phone = True
    if phone:
        kinds.append("phone")
    if card:
        kinds.append("card")
    return kinds
