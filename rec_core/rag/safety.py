"""Input limits for the chat: what is refused before anything else runs, and the reply that says why.

The query path never builds SQL from user text (the store binds parameters) and quotes the text into
the LLM prompt as data. These checks add a clear answer for input that is empty, over the length limit,
or looks like an attack (SQL statements, attempts to override the assistant's instructions), instead of
passing it on to the model.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_SQL_PATTERNS = [
    r";\s*(drop|delete|insert|update|alter|create|truncate|attach|pragma|replace)\b",
    r"\b(drop|truncate|alter)\s+(table|database|schema|index|view)\b",
    r"\bunion\s+(all\s+)?select\b",
    r"\bselect\b[\s\S]{0,80}\bfrom\b[\s\S]{0,80}(\bwhere\b|;|--)",
    r"\binsert\s+into\b",
    r"\bdelete\s+from\b",
    r"\bupdate\s+\w+\s+set\b",
    r"['\"]\s*(or|and)\s+['\"]?\w+['\"]?\s*=\s*['\"]?\w+",  # ' OR '1'='1
    r"\b(exec|execute)\s*\(|\bxp_cmdshell\b|\bsleep\s*\(\s*\d+\s*\)|\bload_extension\s*\(",
]
_INJECTION_PATTERNS = [
    r"\b(ignore|disregard|forget|override)\b[\s\S]{0,40}\b(previous|prior|above|earlier|all|your|the|system)\b[\s\S]{0,30}\b(instructions?|prompts?|rules?|directions?|messages?)\b",
    r"\b(system|developer)\s+(prompt|message|instructions?)\b",
    r"\byou\s+are\s+now\b|\bact\s+as\s+(an?\s+)?(unrestricted|jailbroken|dan)\b|\bjailbreak\b|\bdo\s+anything\s+now\b",
    r"\b(reveal|print|show|repeat|output)\b[\s\S]{0,30}\b(your|the)\s+(prompt|instructions|system)",
    r"<\|[a-z_]+\|>|\[/?inst\]|<</?sys>>|</?s>|<\|im_(start|end)\|>",
    r"^\s*(system|assistant)\s*:",
    r"\bnew\s+instructions?\s*:",
]
_SQL_RE = re.compile("|".join(_SQL_PATTERNS), re.IGNORECASE)
_INJ_RE = re.compile("|".join(_INJECTION_PATTERNS), re.IGNORECASE | re.MULTILINE)


@dataclass
class InputCheck:
    ok: bool
    text: str  # cleaned text (control characters removed) when ok
    kind: str = "ok"  # ok | empty | too_long | sql_like | prompt_injection
    reply: str = ""


def clean_text(text: str) -> str:
    """Drop control and format characters (keeps newlines and tabs) and trim."""
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C").strip()


def check_input(text: str | None, max_chars: int = 1000) -> InputCheck:
    if text is None or not isinstance(text, str):
        text = ""
    if len(text) > max_chars:
        # measured before cleaning, so a megabyte of control characters is not cleaned first
        return InputCheck(
            False,
            "",
            "too_long",
            f"Your message is {len(text):,} characters long; the limit is {max_chars:,}. "
            "Please shorten it to a few sentences about movies you liked or disliked.",
        )
    cleaned = clean_text(text)
    if not cleaned:
        return InputCheck(
            False,
            "",
            "empty",
            'Your message is empty. Tell me a movie you liked or disliked (e.g. "I loved Alien but not Titanic"), '
            "or describe what you want to watch.",
        )
    if _SQL_RE.search(cleaned):
        return InputCheck(
            False,
            "",
            "sql_like",
            "Your message looks like a database command, so I did not process it. "
            "I only answer questions about movies; nothing was run or changed.",
        )
    if _INJ_RE.search(cleaned):
        return InputCheck(
            False,
            "",
            "prompt_injection",
            "Your message asks me to change my instructions, so I did not pass it to the language model. "
            "I can only recommend movies: tell me what you liked or disliked.",
        )
    return InputCheck(True, cleaned)
