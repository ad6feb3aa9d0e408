"""The filters of the two papers, as pure functions on text.

Self-Instruct (Wang et al. 2023, section 2.3): parse the model's numbered list, drop
instructions shorter than 3 or longer than 150 words, those naming things a text model cannot
handle (images, graphs, files...), those starting with punctuation or a non-English character;
then the ROUGE-L < 0.7 pool filter (:mod:`app.synthetic.rouge`).

Evol-Instruct (Xu et al. 2023, section 3.2) eliminates an evolution when
1. it brings no information gain over the original (here: the same words, or empty);
2. the evolved instruction makes the model answer with difficulty: the response says "sorry"
   and is short (under 80 words);
3. the response is only punctuation and stop words;
4. the evolved instruction copies words of the evolving prompt ("given prompt", "rewritten
   prompt", "#Rewritten Prompt#"...).
Rule 1 in the paper asks ChatGPT to compare the two; a word-level comparison is what a
local, deterministic check can say.
"""

from __future__ import annotations

import re

from app.text.words import words

MIN_WORDS, MAX_WORDS = 3, 150
BLOCKLIST = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map",
    "maps", "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram",
)  # fmt: skip
_BLOCKED = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in BLOCKLIST) + r")\b")
_NUMBERED = re.compile(r"^\s*(?:\d+\s*[.):]|[-*•])\s*(?:task\s*\d*\s*:?)?\s*", re.IGNORECASE)
_PROMPT_WORDS = ("given prompt", "rewritten prompt", "created prompt", "#rewritten", "#created")
_STOP_TEXT = (
    "a an the and or but if of to in on at by for with from as is are was were be been it its "
    "this that these those i you he she we they me him her us them my your our their not no "
    "so do does did have has had will would can could should may might must shall"
)
STOP_WORDS = frozenset(_STOP_TEXT.split())


def parse_numbered(text: str) -> list[str]:
    """The items of a numbered (or bulleted) list; a reply without numbering is one item per
    non-empty line."""
    items: list[str] = []
    current: list[str] = []
    numbered = any(_NUMBERED.match(line) for line in text.splitlines() if line.strip())
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _NUMBERED.match(line)
        if match or not numbered:
            if current:
                items.append(" ".join(current))
            current = [line[match.end() :].strip() if match else line.strip()]
        elif current:
            current.append(line.strip())
    if current:
        items.append(" ".join(current))
    return [item for item in items if item]


def instruction_problem(text: str) -> str | None:
    """Why Self-Instruct would drop this instruction (None to keep it)."""
    ws = words(text)
    if len(ws) < MIN_WORDS:
        return "too_short"
    if len(ws) > MAX_WORDS:
        return "too_long"
    if _BLOCKED.search(" ".join(ws)):
        return "unsupported"
    first = text.strip()[0]
    if not first.isalnum() or not first.isascii():
        return "bad_start"
    return None


def evolution_problem(original: str, evolved: str) -> str | None:
    """Rules 1 and 4 (on the instruction alone)."""
    ws = words(evolved)
    if not ws or ws == words(original):
        return "no_gain"
    lowered = evolved.lower()
    if any(p in lowered for p in _PROMPT_WORDS):
        return "copied_prompt"
    return None


def response_problem(response: str) -> str | None:
    """Rules 2 and 3 (on the response to an evolved instruction)."""
    ws = words(response)
    if "sorry" in ws and len(ws) < 80:
        return "model_declined"
    if all(w in STOP_WORDS for w in ws):
        return "empty_response"
    return None


def strip_answer(text: str) -> str:
    """A rewriter's answer without a leading ``#Rewritten Prompt#:``-style label."""
    text = text.strip()
    return re.sub(r"^#[^#\n]{1,40}#\s*:?\s*", "", text).strip()
