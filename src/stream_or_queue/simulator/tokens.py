"""A tiny, deterministic tokenizer.

Real tokenizers split text into sub-word pieces; here a token is a word or a
punctuation mark with the white space before it. That keeps counts close to
real ones for English prose (about 0.75 words per token) and lets a stream be
re-joined into exactly the text it came from.
"""

from __future__ import annotations

import json
import re
from typing import Any

_PIECE = re.compile(r"\s*[A-Za-z]{1,7}|\s*[A-Za-z]+|\s*\d{1,3}|\s*[^\sA-Za-z\d]|\s+$")


def tokenize(text: str) -> list[str]:
    """Split `text` into tokens whose concatenation is `text` itself."""
    return _PIECE.findall(text)


def count_tokens(text: str) -> int:
    return len(tokenize(text))


def count_content_tokens(content: Any) -> int:
    """Tokens in a message's content: a string or a list of content blocks."""
    if isinstance(content, str):
        return count_tokens(content)
    total = 0
    for block in content or []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            total += count_tokens(str(block.get("text", "")))
        elif kind == "tool_use":
            total += count_tokens(json.dumps(block.get("input", {}))) + 4
        elif kind == "tool_result":
            total += count_content_tokens(block.get("content", "")) + 4
        else:
            total += 8
    return total
