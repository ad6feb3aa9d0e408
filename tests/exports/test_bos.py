"""`text` exports and the BOS (issue 18): TRL tokenizes a `text` row with special tokens added,
so a template that writes the BOS string into the text trained every row with two BOS tokens.
Checked the way TRL's SFTTrainer tokenizes a text row, with a tokenizer that adds the BOS as
Llama 3's does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.exports import service
from app.exports.schemas import ExportCreate
from app.models import ItemStatus, Project
from tests.factories import conversation, make_example

BOS = "<|begin_of_text|>"
SPECIALS = [BOS, "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]


def _bos_adding_tokenizer() -> Any:
    """A word-level tokenizer whose post-processor puts the BOS first, like Llama 3's."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    raw = Tokenizer(models.WordLevel(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    words = ["user", "assistant", "system", "question", "answer", "?", ".", *"0123456789"]
    raw.train_from_iterator(words, trainers.WordLevelTrainer(special_tokens=["<unk>", *SPECIALS]))
    raw.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, raw.token_to_id(BOS))]
    )
    return raw


def _texts(db: Session, project: Project, root: Path, **params: Any) -> list[str]:
    snapshot = service.new_snapshot(db, project, None, ExportCreate(format="text", **params))
    db.commit()
    snapshot = service.run(db, snapshot.id, root)
    db.commit()
    assert snapshot.state == "ready", snapshot.error
    lines = (root / snapshot.directory / "sft_train.jsonl").read_text().splitlines()
    return [json.loads(line)["text"] for line in lines]


def test_llama3_text_rows_train_with_one_bos(db: Session, project: Project, tmp_path: Path) -> None:
    for i in range(5):
        make_example(db, project, conversation(f"question {i} ?", f"answer {i} ."),
                     status=ItemStatus.approved)  # fmt: skip
    db.commit()
    tokenizer = _bos_adding_tokenizer()

    def _tokenize(tok: Any, text: str) -> dict[str, list[int]]:
        # TRL 1.16's SFTTrainer on a `text` row: trl.data_utils._tokenize calls
        # `processing_class(text=input)`, i.e. with special tokens added (the default), which
        # runs the tokenizer's post-processor: the same as encode(add_special_tokens=True).
        # (tokenizers alone: importing transformers here would slow the module down.)
        return {"input_ids": tok.encode(text, add_special_tokens=True).ids}

    bos_id = tokenizer.token_to_id(BOS)

    default = _texts(db, project, tmp_path, template="llama3")
    assert default and all(not text.startswith(BOS) for text in default)
    assert [_tokenize(tokenizer, text)["input_ids"].count(bos_id) for text in default] == [1] * 5
    assert _tokenize(tokenizer, default[0])["input_ids"][0] == bos_id

    # kept in the text (for trainers that do not add it), TRL's path would give two
    kept = _texts(db, project, tmp_path, template="llama3", bos_in_text=True)
    assert all(text.startswith(BOS) for text in kept)
    assert [_tokenize(tokenizer, text)["input_ids"].count(bos_id) for text in kept] == [2] * 5
