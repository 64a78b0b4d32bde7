"""How people's contact identifiers look: e-mail addresses, phone numbers, social handles.

Uniqueness rule: every address, number and handle embeds a token derived from the person's
global index, so two different people never share one by accident — the only shared
identifiers in the data are the deliberate ones (shared devices, company inboxes, test@…).
"""

from __future__ import annotations

# Local-part patterns people pick for a personal address; the unique token always ends it, so
# two different tokens can never produce the same address.
_EMAIL_PATTERNS = (
    "{f}.{l}{k}",
    "{f0}{l}{k}",
    "{f}{l0}{k}",
    "{l}.{f}{k}",
    "{f}_{l}{k}",
)
N_EMAIL_PATTERNS = len(_EMAIL_PATTERNS)


def email_address(first: str, last: str, token: int, pattern: int, domain: str) -> str:
    """Canonical (lower-case, trimmed) address; ``first``/``last`` are ASCII-folded already."""
    local = _EMAIL_PATTERNS[pattern].format(f=first, l=last, f0=first[:1], l0=last[:1], k=token)
    return f"{local}@{domain}"


def national_number(country: str, area: str, token: int) -> str:
    """National significant number (no trunk prefix), unique per token below 10**7."""
    # 7919 is coprime with 10, so this is a bijection on 0..10**7-1.
    seven = f"{(token * 7919 + 1_234_567) % 10_000_000:07d}"
    if country in ("US", "CA"):
        return area + seven
    if country == "GB":
        return "207" + seven
    if country == "FR":
        return "14" + seven
    if country == "ES":
        return "91" + seven
    if country == "JP":
        return "35" + seven
    return area + seven  # DE: Berlin "30"


def phone_e164(calling_code: str, nsn: str) -> str:
    return f"+{calling_code}{nsn}"


def phone_display(country: str, nsn: str, style: int) -> str:
    """The number as someone typed it into a form. Even styles are international (with the
    country code), odd styles national (trunk prefix, no country code)."""
    if country in ("US", "CA"):
        a, b, c = nsn[:3], nsn[3:6], nsn[6:]
        return (f"+1 {a}-{b}-{c}", f"({a}) {b}-{c}", f"+1 ({a}) {b}-{c}", f"{a}-{b}-{c}",
                f"+1{a}{b}{c}", f"{a}.{b}.{c}")[style % 6]
    if country == "GB":
        a, b, c = nsn[:2], nsn[2:6], nsn[6:]
        return (f"+44 {a} {b} {c}", f"0{a} {b} {c}", f"0044 {a} {b} {c}", f"(0{a}) {b} {c}",
                f"+44 (0){a} {b} {c}", f"0{a}{b}{c}")[style % 6]
    if country == "DE":
        a, b = nsn[:2], nsn[2:]
        return (f"+49 {a} {b}", f"0{a} {b}", f"0049 {a} {b}", f"0{a}/{b}",
                f"+49 (0){a} {b}", f"0{a}-{b}")[style % 6]
    if country == "FR":
        p = [nsn[0], nsn[1:3], nsn[3:5], nsn[5:7], nsn[7:9]]
        return (f"+33 {' '.join(p)}", "0" + " ".join(p), f"0033 {' '.join(p)}",
                "0" + ".".join(p), f"+33{nsn}", "0" + "".join(p))[style % 6]
    if country == "ES":
        a, b, c = nsn[:3], nsn[3:6], nsn[6:]
        return (f"+34 {a} {b} {c}", f"{a} {b[:2]} {b[2:]}{c[:1]} {c[1:]}", f"0034 {a} {b} {c}",
                f"{a}{b}{c}", f"+34{a}{b}{c}", f"{a}-{b}-{c}")[style % 6]
    # JP: Tokyo 03-XXXX-XXXX
    a, b, c = nsn[:1], nsn[1:5], nsn[5:]
    return (f"+81 {a}-{b}-{c}", f"0{a}-{b}-{c}", f"+81-{a}-{b}-{c}", f"0{a}{b}{c}",
            f"+81 {a} {b} {c}", f"(0{a}) {b}-{c}")[style % 6]


def social_handle(platform: str, first: str, last: str, token: int) -> str:
    """Display handle without '@' in the platform's usual style (case as the user chose it)."""
    if platform == "twitter":
        return f"{first.capitalize()}{last.capitalize()}{token}"
    if platform == "instagram":
        return f"{first}.{last}.{token}"
    if platform == "tiktok":
        return f"{first}_{last}{token}"
    return f"{first}.{last}.{token}"  # facebook vanity name
