"""``kto``: TRL's unpaired preference format for ``KTOTrainer``, conversational:
``{"prompt": [messages], "completion": [{"role": "assistant", "content"}], "label": bool}``
(https://huggingface.co/docs/trl/dataset_formats#unpaired-preference).

Rows come from rated production feedback (app/feedback), paired or not: one row per distinct
response to a conversation, labelled by its votes (up / 4-5 of 5 desirable, down / 1-2
undesirable; responses whose votes cancel out are left out). Pure.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

KTO_FORMAT = "kto"


def kto_item(
    entry_id: int, prompt: list[dict[str, Any]], response: str, net: int
) -> dict[str, Any]:
    """The writer's item for one rated response (`net` > 0: desirable)."""
    completion = [{"role": "assistant", "content": response}]
    label = net > 0
    content = {"kind": "kto", "prompt": prompt, "completion": completion, "label": label}
    return {
        "id": entry_id,
        "version": 1,
        "content_hash": hashlib.sha256(_canonical(content).encode()).hexdigest(),
        "source": "feedback",
        "prompt": prompt,
        "completion": completion,
        "label": label,
        "messages": prompt + completion,
    }


def kto_row(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "prompt": [{"role": m["role"], "content": m.get("content") or ""} for m in item["prompt"]],
        "completion": item["completion"],
        "label": item["label"],
    }


def _canonical(value: Any) -> str:
    """The canonical JSON content hashes are taken over (as `formats.records.canonical_json`;
    not imported, to keep this package's import light for the template-check child process)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
