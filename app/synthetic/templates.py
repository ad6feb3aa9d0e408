"""The built-in prompt templates of each generation method, and their rendering.

A template is plain text with ``{placeholders}``; only the method's own placeholders are
replaced (no ``str.format``: braces elsewhere in a project's edited template stay as they are).
A project's edits are stored as new versions (``synthetic_templates``); version 0 is the
built-in text below. The prompts follow the papers: Self-Instruct (Wang et al. 2023, the
instruction-generation prompt) and Evol-Instruct (Xu et al. 2023, WizardLM's in-depth and
in-breadth evolving prompts). Pair candidates ask the ``response`` prompt twice, at two
temperatures: the same text a response for a draft is asked with.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Method(StrEnum):
    self_instruct = "self_instruct"
    evol_instruct = "evol_instruct"
    responses = "responses"
    pair_candidates = "pair_candidates"


class TemplateName(StrEnum):
    self_instruct = "self_instruct"
    evol_depth = "evol_depth"
    evol_breadth = "evol_breadth"
    response = "response"


PLACEHOLDERS: dict[TemplateName, tuple[str, ...]] = {
    TemplateName.self_instruct: ("{tasks}", "{count}"),
    TemplateName.evol_depth: ("{instruction}", "{method}"),
    TemplateName.evol_breadth: ("{instruction}",),
    TemplateName.response: ("{instruction}",),
}

BUILTIN: dict[TemplateName, str] = {
    TemplateName.self_instruct: (
        "Come up with a series of tasks. Write {count} new, diverse tasks that differ from the "
        "examples below in topic, wording and the kind of answer they need. Write each task as "
        "an instruction a person could give to an assistant, on its own numbered line.\n\n"
        "{tasks}\n"
    ),
    TemplateName.evol_depth: (
        "I want you to act as a Prompt Rewriter.\n"
        "Your objective is to rewrite a given prompt into a more complex version to make those "
        "famous AI systems (e.g., ChatGPT and GPT4) a bit harder to handle.\n"
        "But the rewritten prompt must be reasonable and must be understood and responded by "
        "humans.\n"
        "You SHOULD complicate the given prompt using the following method:\n{method}\n"
        "You should try your best not to make the rewritten prompt become verbose; the "
        "rewritten prompt can only add 10 to 20 words into the given prompt.\n"
        "Answer with the rewritten prompt only.\n\n"
        "#The Given Prompt#:\n{instruction}\n"
    ),
    TemplateName.evol_breadth: (
        "I want you to act as a Prompt Creator.\n"
        "Your goal is to draw inspiration from the given prompt to create a brand new prompt.\n"
        "This new prompt should belong to the same domain as the given prompt but be even more "
        "rare.\n"
        "The length and complexity of the created prompt should be similar to that of the "
        "given prompt.\n"
        "The created prompt must be reasonable and must be understood and responded by humans.\n"
        "Answer with the created prompt only.\n\n"
        "#Given Prompt#:\n{instruction}\n"
    ),
    TemplateName.response: "{instruction}",
}

DEPTH_METHODS = (
    "Please add one more constraint or requirement into the given prompt.",
    "If the given prompt asks about a certain issue, increase the depth and breadth of the "
    "inquiry.",
    "Please replace general concepts with more specific concepts.",
    "If the given prompt can be solved with just a few simple thinking processes, rewrite it "
    "to explicitly request multiple-step reasoning.",
)

TEMPLATES_OF: dict[Method, tuple[TemplateName, ...]] = {
    Method.self_instruct: (TemplateName.self_instruct, TemplateName.response),
    Method.evol_instruct: (
        TemplateName.evol_depth, TemplateName.evol_breadth, TemplateName.response,
    ),
    Method.responses: (TemplateName.response,),
    Method.pair_candidates: (TemplateName.response,),
}  # fmt: skip


def missing_placeholders(name: TemplateName, text: str) -> list[str]:
    return [p for p in PLACEHOLDERS[name] if p not in text]


def render(text: str, values: Mapping[str, object]) -> str:
    """Replace ``{key}`` for each given key, leaving every other brace alone."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text
