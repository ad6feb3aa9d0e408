"""Export snapshots end to end on the sample data: selection, files, manifest, immutability."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.examples import service as examples
from app.examples.schemas import ExampleUpdate
from app.exports import service
from app.exports.schemas import ExportCreate
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.items.schemas import ListFilter
from app.models import ItemStatus, Project, User
from tests.factories import SHARED_DATA

ALPACA = SHARED_DATA / "alpaca_5000.json"
HH = SHARED_DATA / "hh_rlhf_harmless_test.jsonl.gz"


def _import(db: Session, project: Project, path: Path, tmp_path: Path, **options: object) -> None:
    import_file(
        db, project_id=project.id, path=path, user_id=None,
        options=ImportOptions(**options),  # type: ignore[arg-type]
        rejects_path=tmp_path / "rejects.jsonl",
    )  # fmt: skip
    db.commit()


def _export(db: Session, project: Project, root: Path, **params: object):  # type: ignore[no-untyped-def]
    snapshot = service.new_snapshot(db, project, None, ExportCreate(**params))  # type: ignore[arg-type]
    db.commit()
    snapshot = service.run(db, snapshot.id, root)
    db.commit()
    return snapshot


def _lines(root: Path, snapshot, name: str) -> list[dict]:  # type: ignore[no-untyped-def]
    path = root / snapshot.directory / name
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_messages_export_of_approved_alpaca(db: Session, project: Project, tmp_path: Path) -> None:
    _import(db, project, ALPACA, tmp_path, status=ItemStatus.approved)
    root = tmp_path / "exports"
    snapshot = _export(db, project, root, format="messages")
    assert snapshot.state == "ready"
    rows = _lines(root, snapshot, "sft_train.jsonl")
    assert len(rows) == 4998  # the two drafts that need a response are never exported
    assert rows[0]["messages"][0]["role"] == "user"
    assert rows[0]["messages"][-1]["role"] == "assistant"
    manifest = snapshot.manifest
    assert manifest["counts"]["sft"]["train"] == {"imported": 4998}
    for name, info in manifest["files"].items():
        digest = hashlib.sha256((root / snapshot.directory / name).read_bytes()).hexdigest()
        assert digest == info["sha256"], name
    on_disk = json.loads((root / snapshot.directory / "manifest.json").read_text())
    assert on_disk["files"] == manifest["files"]
    gates = {g["name"]: g["status"] for g in snapshot.gates}
    assert gates["contamination"] == "not_checked"
    assert gates["one_template"] == "pass"


def test_status_all_and_approved_only(db: Session, project: Project, tmp_path: Path) -> None:
    _import(db, project, ALPACA, tmp_path)  # submitted
    root = tmp_path / "exports"
    approved = _export(db, project, root, format="messages", dry_run=True)
    assert approved.state in ("checked", "blocked")
    everything = _export(db, project, root, format="messages", status="all")
    assert len(_lines(root, everything, "sft_train.jsonl")) == 4998


def test_snapshot_files_never_change_after_edits(
    db: Session, project: Project, engineer: User, tmp_path: Path
) -> None:
    _import(db, project, ALPACA, tmp_path, status=ItemStatus.approved)
    root = tmp_path / "exports"
    first = _export(db, project, root, format="messages")
    before = (root / first.directory / "sft_train.jsonl").read_bytes()
    rows, _, _ = examples.list_examples(db, project, ListFilter(sort="oldest", limit=1))
    edited = rows[0]
    old_version = edited.version
    messages = [*edited.messages[:-1], {"role": "assistant", "content": "An edited answer."}]
    examples.update(
        db, project, edited.id, engineer, ExampleUpdate(version=edited.version, messages=messages)
    )
    db.commit()
    assert (root / first.directory / "sft_train.jsonl").read_bytes() == before
    # the edit took the approval back (approval is given to content): export every status
    second = _export(db, project, root, format="messages", status="all")
    after = _lines(root, second, "sft_train.jsonl")
    assert after[0]["messages"][-1]["content"] == "An edited answer."
    items = _lines(root, second, "items.jsonl")
    assert items[0] == {"kind": "sft", "id": edited.id, "version": old_version + 1,
                        "content_hash": items[0]["content_hash"], "split": "train"}  # fmt: skip


def test_split_is_deterministic_and_stable(db: Session, project: Project, tmp_path: Path) -> None:
    _import(db, project, ALPACA, tmp_path, status=ItemStatus.approved)
    root = tmp_path / "exports"
    a = _export(db, project, root, format="messages", validation_fraction=0.1, seed="s1")
    b = _export(db, project, root, format="messages", validation_fraction=0.1, seed="s1")
    val_a = (root / a.directory / "sft_validation.jsonl").read_bytes()
    assert val_a == (root / b.directory / "sft_validation.jsonl").read_bytes()
    n_val = len(val_a.splitlines())
    assert 350 < n_val < 650
    extra = tmp_path / "extra.jsonl"
    extra.write_text(
        "\n".join(json.dumps({"prompt": f"new {i}", "completion": "x"}) for i in range(300)) + "\n"
    )
    _import(db, project, extra, tmp_path, status=ItemStatus.approved)
    c = _export(db, project, root, format="messages", validation_fraction=0.1, seed="s1")
    old_val = {json.dumps(r, sort_keys=True) for r in _lines(root, a, "sft_validation.jsonl")}
    new_val = {json.dumps(r, sort_keys=True) for r in _lines(root, c, "sft_validation.jsonl")}
    assert old_val <= new_val


def test_text_export_folds_system_prompt_for_templates_without_one(
    db: Session, project: Project, tmp_path: Path
) -> None:
    path = tmp_path / "sys.jsonl"
    row = {"messages": [{"role": "system", "content": "You are terse."},
                        {"role": "user", "content": "Hi"},
                        {"role": "assistant", "content": "Hello."}]}  # fmt: skip
    path.write_text(json.dumps(row) + "\n")
    _import(db, project, path, tmp_path, status=ItemStatus.approved)
    root = tmp_path / "exports"
    gemma = _export(db, project, root, format="text", template="gemma")
    text = _lines(root, gemma, "sft_train.jsonl")[0]["text"]
    assert "You are terse." in text
    assert any("folded" in note for note in gemma.manifest["notes"])
    chatml = _export(db, project, root, format="text", template="chatml")
    assert (
        "<|im_start|>system\nYou are terse.<|im_end|>"
        in _lines(root, chatml, "sft_train.jsonl")[0]["text"]
    )
    assert not chatml.manifest["notes"]


def test_blocking_gate_writes_nothing(db: Session, project: Project, tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    long = "word " * 200
    path.write_text(
        "\n".join(json.dumps({"prompt": f"{i} {long}", "completion": long}) for i in range(3))
    )
    _import(db, project, path, tmp_path, status=ItemStatus.approved)
    root = tmp_path / "exports"
    snapshot = _export(db, project, root, format="messages", sequence_len=16)
    assert snapshot.state == "blocked"
    assert snapshot.directory is None and snapshot.manifest is None
    assert not any(root.iterdir())
    assert {g["name"]: g["status"] for g in snapshot.gates}["token_length"] == "block"


def test_nothing_selected_blocks(db: Session, project: Project, tmp_path: Path) -> None:
    snapshot = _export(db, project, tmp_path / "exports", format="messages")
    assert snapshot.state == "blocked"
    assert snapshot.gates[0] == {"name": "not_empty", "status": "block",
                                 "summary": "no items match the filters", "items": []}  # fmt: skip


@pytest.mark.parametrize(
    ("fmt", "extra_file", "check"),
    [
        ("trl_preference", None, lambda r: set(r) == {"prompt", "chosen", "rejected"}),
        (
            "openai_preference",
            None,
            lambda r: set(r) == {"input", "preferred_output", "non_preferred_output"},
        ),
        ("llamafactory", "dataset_info.json", lambda r: "conversations" in r and "chosen" in r),
        ("axolotl", "axolotl.yaml", lambda r: "chosen" in r and "rejected" in r),
    ],
)
def test_pair_formats_from_hh(
    db: Session, project: Project, tmp_path: Path, fmt, extra_file, check
) -> None:  # type: ignore[no-untyped-def]
    _import(db, project, HH, tmp_path, skip_invalid=True)
    root = tmp_path / "exports"
    snapshot = _export(db, project, root, format=fmt, status="all")
    assert snapshot.state == "ready", snapshot.gates
    rows = _lines(root, snapshot, "preference_train.jsonl")
    skipped = snapshot.manifest["skipped"]
    # single-response formats can't hold the pairs whose transcripts part early: listed, not lost
    assert len(rows) + len(skipped) == 2308
    assert len(rows) >= 2299 and all(s["reason"] for s in skipped)
    assert all(check(r) for r in rows[:50])
    if extra_file:
        text = (root / snapshot.directory / extra_file).read_text()
        assert "preference_train.jsonl" in text
        if extra_file == "dataset_info.json":
            assert json.loads(text)["preference_train"]["ranking"] is True
        else:
            assert "rl: dpo" in text


def test_trl_file_loads_and_passes_trl_helpers(
    db: Session, project: Project, tmp_path: Path
) -> None:
    import datasets
    from trl import data_utils

    _import(db, project, ALPACA, tmp_path, status=ItemStatus.approved)
    root = tmp_path / "exports"
    snapshot = _export(db, project, root, format="messages")
    loaded = datasets.load_dataset(
        "json", data_files=str(root / snapshot.directory / "sft_train.jsonl"), split="train",
        cache_dir=str(tmp_path / "hf-cache"),
    )  # fmt: skip
    assert len(loaded) == 4998
    assert data_utils.is_conversational(loaded[0])


CUSTOM = (
    "{{ bos_token }}{% for m in messages %}### {{ m['role'] }}:\n{{ m['content'] }}\n"
    "{% endfor %}{{ eos_token }}"
)


def test_text_export_with_a_custom_template(db: Session, project: Project, tmp_path: Path) -> None:
    _import(db, project, ALPACA, tmp_path, status=ItemStatus.approved)
    root = tmp_path / "exports"
    snapshot = _export(
        db, project, root, format="text",
        custom_template={"name": "mine", "source": CUSTOM, "bos_token": "<B>", "eos_token": "<E>"},
    )  # fmt: skip
    assert snapshot.state == "ready"
    text = _lines(root, snapshot, "sft_train.jsonl")[0]["text"]
    # the BOS is left to the tokenizer (trainers add it), unless asked for in the text
    assert text.startswith("### user:\n") and text.endswith("<E>")
    assert "<B>" not in text
    assert snapshot.manifest["template"] == "custom:mine"
    assert snapshot.manifest["bos"] == {"token": "<B>", "in_text": False, "removed_from_rows": 4998}
    kept = _export(
        db, project, root, format="text", bos_in_text=True,
        custom_template={"name": "mine", "source": CUSTOM, "bos_token": "<B>", "eos_token": "<E>"},
    )  # fmt: skip
    text = _lines(root, kept, "sft_train.jsonl")[0]["text"]
    assert text.startswith("<B>### user:\n") and text.count("<B>") == 1
    # the template travels with the snapshot's parameters: reproducible without the file
    assert snapshot.params["custom_template"]["source"] == CUSTOM


def test_custom_template_is_for_text_only(db: Session, project: Project) -> None:
    from app.errors import Invalid

    with pytest.raises(Invalid, match="text format"):
        service.new_snapshot(
            db, project, None,
            ExportCreate(format="messages", custom_template={"source": CUSTOM}),  # type: ignore[arg-type]
        )  # fmt: skip


@pytest.mark.parametrize("container", ["parquet", "datasets"])
def test_parquet_and_save_to_disk_containers(
    db: Session, project: Project, tmp_path: Path, container: str
) -> None:
    import tarfile

    import datasets

    _import(db, project, ALPACA, tmp_path, status=ItemStatus.approved)
    root = tmp_path / "exports"
    snapshot = _export(db, project, root, format="messages", container=container)
    folder = root / snapshot.directory
    if container == "parquet":
        loaded = datasets.Dataset.from_parquet(str(folder / "sft_train.parquet"))
    else:
        with tarfile.open(folder / "sft_train.datasets.tar") as tar:
            tar.extractall(tmp_path / "unpacked", filter="data")
        loaded = datasets.load_from_disk(str(tmp_path / "unpacked" / "sft_train.datasets"))
    assert len(loaded) == 4998
    assert loaded[0]["messages"][0]["role"] == "user"
    name = "sft_train.parquet" if container == "parquet" else "sft_train.datasets.tar"
    assert name in snapshot.manifest["files"]
