"""Contamination check speed, ours beside the baselines, in one process on the same data.

    .venv/bin/python -m benchmarks.contamination_bench [--rows 50000] [--eval-items 1300]

1. Signature + LSH stage: our batch MinHash (numpy, multiply-shift) feeding datasketch's
   ``MinHashLSH`` against datasketch's documented per-record use (``MinHash()`` +
   ``update()`` per shingle + ``MinHashLSH.query``), same words, same 3-word shingles, same
   128 permutations, same LSH parameters.  Goal: >= 4x.
2. The whole check cold: ``--rows`` training rows against an eval set of ``--eval-items`` items
   (HumanEval + MMLU sociology + HH-RLHF test prompts), embeddings included, nothing cached,
   beside plain fp32 ``SentenceTransformer.encode`` of the same texts we embed (the training
   prompts and the eval texts).  Goal: cold <= 0.6x that encode time.
3. Warm: one row edited, re-checked with the caches a worker keeps (the eval index in memory,
   embeddings by content hash); also with the index loaded from its stored pickle, as a fresh
   worker would.  Goal: <= 2 s.

Training rows are Alpaca rows recombined (instruction, input and output of three different
rows), so all of them are distinct texts of natural length.  Model loading is outside every
timing (both sides load once).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import pickle
import random
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def training_rows(n: int, seed: int = 0) -> list[dict[str, str]]:
    alpaca = json.loads((DATA / "alpaca_5000.json").read_text(encoding="utf-8"))
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    seen: set[tuple[int, int, int]] = set()
    while len(rows) < n:
        a, b, c = (rng.randrange(len(alpaca)) for _ in range(3))
        if (a, b, c) in seen:
            continue
        seen.add((a, b, c))
        rows.append({"instruction": alpaca[a]["instruction"], "input": alpaca[b]["input"],
                     "output": alpaca[c]["output"]})  # fmt: skip
    return rows


def eval_items(n: int) -> list[dict[str, str]]:
    with gzip.open(DATA / "humaneval.jsonl.gz", "rt", encoding="utf-8") as f:
        items = [{k: p[k] for k in ("prompt", "canonical_solution")}
                 for p in map(json.loads, f)]  # fmt: skip
    with (DATA / "mmlu_sociology_test.csv").open(newline="", encoding="utf-8") as f:
        items += [{"question": r[0], "A": r[1], "B": r[2], "C": r[3], "D": r[4]}
                  for r in csv.reader(f)]  # fmt: skip
    with gzip.open(DATA / "hh_rlhf_harmless_test.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            if len(items) >= n:
                break
            chosen = json.loads(line)["chosen"]
            first = chosen.split("\n\nHuman: ")[1].split("\n\nAssistant:")[0].strip()
            if first:
                items.append({"prompt": first})
    return items[:n]


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def stage_bench(train_texts: list[str], eval_texts: list[str]) -> dict[str, float]:
    """Signatures + LSH queries: ours (batch) against datasketch per record."""
    from datasketch import MinHash, MinHashLSH

    from app.contamination import detector as d
    from app.text.sketch import MinHasher, Sketch, WordBatch, WordHasher, ngrams
    from app.text.words import words

    def shingles(ws: list[str]) -> list[str]:
        if len(ws) < d.SHINGLE:
            return [" ".join(ws)] if ws else []
        return [" ".join(ws[i : i + d.SHINGLE]) for i in range(len(ws) - d.SHINGLE + 1)]

    def baseline() -> int:
        lsh = MinHashLSH(threshold=d.LSH_THRESHOLD, num_perm=d.NUM_PERM, weights=d.LSH_WEIGHTS)
        for key, text in enumerate(eval_texts):
            m = MinHash(num_perm=d.NUM_PERM)
            for s in shingles(words(text)):
                m.update(s.encode("utf8"))
            lsh.insert(key, m)
        hits = 0
        for text in train_texts:
            m = MinHash(num_perm=d.NUM_PERM)
            for s in shingles(words(text)):
                m.update(s.encode("utf8"))
            hits += len(lsh.query(m))
        return hits

    def ours() -> int:
        hasher, minhasher = WordHasher(), MinHasher(d.NUM_PERM)
        lsh = MinHashLSH(threshold=d.LSH_THRESHOLD, num_perm=d.NUM_PERM, weights=d.LSH_WEIGHTS)
        batch = WordBatch.from_words(hasher, [words(t) for t in eval_texts])
        sigs = minhasher.signatures(ngrams(batch, d.SHINGLE, short_whole=True), len(eval_texts))
        with lsh.insertion_session() as session:
            for key, sig in enumerate(sigs):
                session.insert(key, Sketch(sig), check_duplication=False)
        hits = 0
        for start in range(0, len(train_texts), d.BATCH):
            chunk = train_texts[start : start + d.BATCH]
            batch = WordBatch.from_words(hasher, [words(t) for t in chunk])
            sigs = minhasher.signatures(ngrams(batch, d.SHINGLE, short_whole=True), len(chunk))
            for sig in sigs:
                hits += len(lsh.query(Sketch(sig)))
        return hits

    t_base, hits_base = _timed(baseline)
    t_ours, hits_ours = _timed(ours)
    n = len(train_texts) + len(eval_texts)
    return {"baseline_s": t_base, "ours_s": t_ours, "baseline_rps": n / t_base,
            "ours_rps": n / t_ours, "baseline_hits": hits_base, "ours_hits": hits_ours}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--eval-items", type=int, default=1_300)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from app.contamination.detector import EvalIndex
    from app.contamination.records import EvalText, TrainText
    from app.contamination.rules import EmbeddingMemo
    from app.embeddings.encoder import Encoder, default_model_path
    from app.text.itemtext import message_text

    rows = training_rows(args.rows)
    items = eval_items(args.eval_items)
    train = [
        TrainText(message_text([{"content": r["instruction"]}, {"content": r["input"]},
                                {"content": r["output"]}]),
                  message_text([{"content": r["instruction"]}, {"content": r["input"]}]))
        for r in rows
    ]  # fmt: skip
    evals = [EvalText(0, i, fields) for i, fields in enumerate(items)]
    print(f"{len(train):,} training rows, {len(evals):,} eval items; torch threads "
          f"{torch.get_num_threads()}")  # fmt: skip

    # 1. signature + LSH stage
    stage = stage_bench([t.text for t in train], ["\n".join(e.fields.values()) for e in evals])
    ratio = stage["ours_rps"] / stage["baseline_rps"]
    print("\n1. signatures + LSH (records/s, eval items inserted + training rows queried)")
    print(
        f"   datasketch per record: {stage['baseline_rps']:>9,.0f}/s  ({stage['baseline_s']:.1f} s)"
    )
    print(f"   Trellis batch:         {stage['ours_rps']:>9,.0f}/s  ({stage['ours_s']:.1f} s)")
    print(f"   ratio {ratio:.1f}x  (goal >= 4x: {'PASS' if ratio >= 4 else 'FAIL'}); "
          f"candidates {stage['baseline_hits']:,} vs {stage['ours_hits']:,}")  # fmt: skip

    # 2. cold check, and plain fp32 encode of the same texts
    encoder = Encoder()  # bf16 where the CPU has it
    memo = EmbeddingMemo(encoder)

    def cold() -> tuple[EvalIndex, list[Any]]:
        index = EvalIndex(evals, encoder, embedding_cache=memo)
        prompts = memo([t.prompt for t in train])
        return index, index.check(train, prompts)

    t_cold, (index, flags) = _timed(cold)
    embedded_texts = [*index.embedded_texts, *(t.prompt for t in train)]
    plain = SentenceTransformer(default_model_path(), device="cpu")
    t_plain, plain_vectors = _timed(lambda: plain.encode(embedded_texts, normalize_embeddings=True))
    ours_vectors = np.concatenate([index.embeddings, memo([t.prompt for t in train])])
    agreement = np.sum(plain_vectors * ours_vectors, axis=1)
    share = t_cold / t_plain
    print(f"\n2. whole check, cold ({len(embedded_texts):,} texts embedded, {encoder.precision})")
    print(f"   plain fp32 SentenceTransformer.encode of the same texts: {t_plain:.1f} s")
    verdict = "PASS" if share <= 0.6 else "FAIL"
    print("   Trellis check (index + signatures + containment + embeddings + verification): "
          f"{t_cold:.1f} s = {share:.2f}x encode  (goal <= 0.6x: {verdict})")  # fmt: skip
    print(f"   cosine agreement with fp32: min {agreement.min():.4f}, "
          f"p1 {np.percentile(agreement, 1):.4f}; flags {len(flags):,}")  # fmt: skip

    # 3. warm: one row edited
    edited = train[len(train) // 2]
    new_prompt = edited.prompt + " Answer in one short paragraph."
    changed = TrainText(edited.text + " Answer in one short paragraph.", new_prompt)
    blob = pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL)

    def warm(loaded: EvalIndex) -> list[Any]:
        return loaded.check([changed], memo([changed.prompt]))

    t_warm, _ = _timed(lambda: warm(index))
    t_warm_blob, _ = _timed(lambda: warm(pickle.loads(blob)))
    print("\n3. warm: one row edited, re-checked")
    verdict = "PASS" if max(t_warm, t_warm_blob) <= 2 else "FAIL"
    print(f"   eval index in worker memory: {t_warm * 1000:.0f} ms; "
          f"index loaded from its stored pickle ({len(blob) / 1e6:.1f} MB): "
          f"{t_warm_blob * 1000:.0f} ms  (goal <= 2 s: {verdict})")  # fmt: skip

    figures = {**stage, "ratio": ratio, "cold_s": t_cold, "plain_encode_s": t_plain,
               "cold_share": share, "agreement_min": float(agreement.min()),
               "warm_s": t_warm, "warm_from_blob_s": t_warm_blob, "flags": len(flags),
               "rows": len(train), "eval_items": len(evals)}  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
