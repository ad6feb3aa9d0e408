"""Prompt variants of the model under test: the project's system prompt and k few-shot examples.

Few-shot examples are given as data (drawn by the caller from approved, uncontaminated
examples); they become earlier user/assistant turns of the conversation, which the tokenizer's
chat template (or the endpoint) renders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FewShot:
    user: str
    assistant: str


@dataclass(frozen=True)
class PromptVariant:
    name: str
    system_prompt: str | None = None
    few_shot: Sequence[FewShot] = field(default_factory=tuple)

    def messages(self, user_text: str) -> list[dict[str, str]]:
        """The conversation for one eval item: system, the shots, then the item's prompt."""
        messages: list[dict[str, str]] = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        for shot in self.few_shot:
            messages.append({"role": "user", "content": shot.user})
            messages.append({"role": "assistant", "content": shot.assistant})
        messages.append({"role": "user", "content": user_text})
        return messages


#: The model as it stands: no system prompt, no shots.
PLAIN = PromptVariant("plain")


def variants(
    system_prompt: str | None, shots: Sequence[FewShot], ks: Sequence[int] = (0, 3)
) -> list[PromptVariant]:
    """The usual ladder to find the best prompt: plain, system prompt, system prompt + k shots."""
    found = [PLAIN]
    for k in ks:
        if k > len(shots) or (k == 0 and not system_prompt):
            continue
        name = "system" if k == 0 else f"system+{k}shot"
        found.append(PromptVariant(name, system_prompt, tuple(shots[:k])))
    return found


def render(tokenizer: Any, variant: PromptVariant, user_text: str) -> str:
    """The variant applied through the tokenizer's chat template, ready to generate from."""
    return str(
        tokenizer.apply_chat_template(
            variant.messages(user_text), tokenize=False, add_generation_prompt=True
        )
    )
