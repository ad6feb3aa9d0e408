"""A scripted "model" for the generation tests, served over real HTTP by tests/llm_server.py.

It answers the three kinds of prompt the generators send, deterministically:
- Self-Instruct: a numbered list of tasks (a copy of a task in the prompt first, then fresh
  ones numbered by a counter, one that needs an image, and one too short: the filters' work);
- Evol-Instruct: the given prompt with a constraint added, except for prompts that ask for
  trouble ("copy" -> an answer that names the given prompt; "decline" -> a refusal response);
- anything else is a response: "Answer to: <the question>". Pair candidates' prompts ask for
  more: "sample me" -> the answer names the temperature the request asked for; "always the
  same" -> the same answer at every temperature, spaced differently (whitespace only).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.llm_server import Faults, scripted_app, serve

TOPICS = [
    "volcanoes", "tax forms", "chess openings", "bread baking", "tide tables", "jazz chords",
    "bike repair", "moth species", "rail timetables", "sourdough", "glaciers", "haiku",
    "compound interest", "knot tying", "comet orbits", "tea ceremonies", "solar panels",
    "bee colonies", "origami cranes", "river deltas", "marathon pacing", "cloud types",
]  # fmt: skip
VERBS = ["Explain", "Summarise", "Compare", "Write a short guide to", "List three facts about"]


class Model:
    def __init__(self) -> None:
        self.counter = itertools.count()
        self.extra: str | None = None
        """A task every Self-Instruct reply adds (a copy of an eval item, a near-duplicate)."""

    def reply(self, body: dict[str, Any]) -> str:
        prompt = str(body["messages"][-1]["content"])
        if "Come up with a series of tasks" in prompt:
            listed = re.findall(r"^\d+\. (.+)$", prompt, flags=re.MULTILINE)
            n = next(self.counter)
            fresh = [
                f"{VERBS[(n + k) % len(VERBS)]} {TOPICS[(3 * n + k) % len(TOPICS)]} "
                f"for a reader in group {n}-{k}"
                for k in range(3)
            ]
            copy = listed[0] if listed else "Explain volcanoes"
            return "\n".join(
                f"{i}. {t}"
                for i, t in enumerate(
                    [self.extra or "", copy, *fresh, "Describe this image of a cat", "Hi"], 1
                )
            )
        if "#The Given Prompt#" in prompt or "#Given Prompt#" in prompt:
            given = prompt.rsplit("Prompt#:\n", 1)[1].strip()
            if "copy" in given:
                return f"#Rewritten Prompt#: As the given prompt says, {given}"
            if "Prompt Creator" in prompt:
                return f"Describe the rarest kind of {given.split()[-1]} you know of"
            return f"#Rewritten Prompt#: {given} Answer in exactly three numbered steps."
        if "decline" in prompt:
            return "Sorry, I cannot help with that."
        temperature = body.get("temperature")
        if "sample me" in prompt:
            return f"Answer to: {prompt} (sampled at temperature {temperature})"
        if "always the same" in prompt:
            gap = " " * (1 + int(10 * float(temperature or 0)) % 3)
            return f"Answer to:{gap}{prompt}\n" + "\n" * int(float(temperature or 0) > 0.5)
        return f"Answer to: {prompt}"


@contextmanager
def model_server(faults: Faults | None = None) -> Iterator[tuple[str, Faults, Model]]:
    model = Model()
    app, faults = scripted_app(model.reply, faults)
    with serve(app) as url:
        yield url, faults, model
