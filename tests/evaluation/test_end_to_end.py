"""The headline: a tiny random Llama tuned (LoRA, a few dozen steps) to memorise a tiny
arithmetic set; exact match through the runner rises from base to tune, the gate report and
verdict come out as computed by hand; the same tune served by an OpenAI-compatible server on
127.0.0.1 scores the same through the HTTP backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.evaluation.gates import GatePolicy, SetScores, SetThresholds, evaluate_gates
from app.evaluation.generation.openai_backend import EndpointConfig, OpenAICompatibleBackend
from app.evaluation.generation.transformers_backend import TransformersBackend
from app.evaluation.prompts import FewShot, PromptVariant, render, variants
from app.evaluation.runner import EvalItem, ItemRecord, run_evaluation
from app.evaluation.scorers.base import ItemScore
from app.evaluation.scorers.exact_match import score_exact_match
from tests.evaluation.arith import SYSTEM_PROMPT, arithmetic_items, train_adapter
from tests.evaluation.openai_server import build_app, serve
from tests.training.tiny_model import build_tiny_model

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


def exact(item: EvalItem, output: str) -> ItemScore:
    return score_exact_match(output, item.reference)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def adapter_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_adapter(model_dir, tmp_path_factory.mktemp("tune") / "adapter")


@pytest.fixture(scope="module")
def base(model_dir: Path) -> TransformersBackend:
    return TransformersBackend(model_dir, batch_size=4)


@pytest.fixture(scope="module")
def tune(model_dir: Path, adapter_dir: Path) -> TransformersBackend:
    return TransformersBackend(model_dir, adapter_dir=adapter_dir, batch_size=4)


def test_accuracy_rises_and_the_verdict_is_ship_tune(
    base: TransformersBackend, tune: TransformersBackend
) -> None:
    items = arithmetic_items()
    prompt_variants = variants(SYSTEM_PROMPT, [FewShot("1 + 1 =", "2")], ks=(0, 1))
    assert [v.name for v in prompt_variants] == ["plain", "system", "system+1shot"]
    baselines = {
        v.name: run_evaluation(base, items, exact, variant=v, max_new_tokens=6)
        for v in prompt_variants
    }
    tuned = run_evaluation(tune, items, exact, max_new_tokens=6, chunk_size=3)
    base_best = max(r.score.mean for r in baselines.values() if r.score is not None)
    assert tuned.score is not None
    assert base_best <= 0.25, {k: [x.output for x in r.records] for k, r in baselines.items()}
    assert tuned.score.mean >= 0.75, [x.output for x in tuned.records]
    assert tuned.throughput.new_tokens > 0 and tuned.throughput.tokens_per_s > 0
    assert tuned.throughput.mean_time_to_first_token is not None

    # The verdict by hand: tune mean >= 0.75 (min score 0.75); the gain over the best prompt
    # is >= 0.5 and, with every paired difference >= 0 and most 1, its interval excludes 0.
    policy = GatePolicy(per_set={"arith": SetThresholds(min_score=0.75, min_gain=0.5)})
    sets = [
        SetScores(
            "arith",
            "task",
            [r.score for r in tuned.records],
            {name: [r.score for r in result.records] for name, result in baselines.items()},
        )
    ]
    report = evaluate_gates(sets, policy)
    gain = next(g for g in report.gates if g.name == "min_gain")
    assert gain.value == pytest.approx(tuned.score.mean - base_best)
    assert gain.interval is not None and gain.interval[0] > 0
    assert report.verdict == "ship_tune", report

    # The same tune held to a bar it cannot reach (a gain of 1.0 with base already right
    # somewhere, or a min score above its own) is not shipped; a base scoring as well would be.
    strict = GatePolicy(per_set={"arith": SetThresholds(min_score=1.01)})
    assert evaluate_gates(sets, strict).verdict == "not_ready"
    as_good = [SetScores("arith", "task", sets[0].tune, {"copy": list(sets[0].tune)})]
    assert evaluate_gates(as_good).verdict == "ship_prompt"


def test_merged_model_matches_the_adapter_on_the_fly(
    model_dir: Path, adapter_dir: Path, tune: TransformersBackend
) -> None:
    merged = TransformersBackend(model_dir, adapter_dir=adapter_dir, merge_adapter=True)
    assert not hasattr(merged.model, "peft_config")
    items = arithmetic_items()
    on_the_fly = run_evaluation(tune, items, exact, max_new_tokens=6)
    folded = run_evaluation(merged, items, exact, max_new_tokens=6)
    assert [r.output for r in folded.records] == [r.output for r in on_the_fly.records]
    assert folded.throughput.tokens_per_s > 0 and on_the_fly.throughput.tokens_per_s > 0


def test_runner_is_chunked_and_resumable(tune: TransformersBackend) -> None:
    items = arithmetic_items()
    seen: list[tuple[list[str], int, int]] = []

    def on_chunk(records: list[ItemRecord], finished: int, total: int) -> None:
        seen.append(([r.item_id for r in records], finished, total))

    done = {"add-0", "add-1", "add-2"}
    result = run_evaluation(
        tune, items, exact, chunk_size=2, done_ids=done, on_chunk=on_chunk, max_new_tokens=6
    )
    assert result.skipped == 3
    assert [ids for ids, _, _ in seen] == [["add-3", "add-4"], ["add-5", "add-6"], ["add-7"]]
    assert [(finished, total) for _, finished, total in seen] == [(5, 8), (7, 8), (8, 8)]
    record = result.records[0]
    assert (record.prompt, record.reference) == ("3 + 6 =", "#### 9")
    assert record.score == float(record.extracted == "9")
    full = run_evaluation(tune, items, exact, chunk_size=8, max_new_tokens=6)
    by_id = full.scores_by_id()
    assert all(by_id[r.item_id] == r.score for r in result.records)


def test_prompt_variant_through_the_chat_template(base: TransformersBackend) -> None:
    variant = PromptVariant("v", "Be brief.", (FewShot("1 + 1 =", "2"), FewShot("2 + 2 =", "4")))
    text = render(base.tokenizer, variant, "3 + 3 =")
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\n1 + 1 =<|im_end|>\n<|im_start|>assistant\n2<|im_end|>\n"
        "<|im_start|>user\n2 + 2 =<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n"
        "<|im_start|>user\n3 + 3 =<|im_end|>\n<|im_start|>assistant\n"
    )
    assert base.render(variant.messages("3 + 3 =")) == text


def test_openai_compatible_endpoint_serving_the_tune(
    tune: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRELLIS_TEST_KEY", "sekrit")
    items = arithmetic_items()
    local = run_evaluation(tune, items, exact, max_new_tokens=6)
    with serve(build_app(tune, api_key="sekrit")) as url:
        remote = OpenAICompatibleBackend(
            EndpointConfig(url, "tiny", api_key_env="TRELLIS_TEST_KEY", concurrency=4)
        )
        served = run_evaluation(remote, items, exact, max_new_tokens=6, chunk_size=4)
        assert [r.output for r in served.records] == [r.output for r in local.records]
        assert served.score == local.score
        assert served.throughput.new_tokens == local.throughput.new_tokens
        # Plain-text completion and option log-likelihoods match the local backend.
        (completion,) = remote.generate(["2 + 3 ="], 4)
        assert completion.text == tune.generate(["2 + 3 ="], 4)[0].text
        options = [" 5", " 6"]
        remote_scores = remote.option_logprobs("2 + 3 =", options)
        assert remote_scores == pytest.approx(tune.option_logprobs("2 + 3 =", options), abs=1e-4)
        remote.close()
        monkeypatch.setenv("TRELLIS_TEST_KEY", "wrong")
        refused = OpenAICompatibleBackend(
            EndpointConfig(url, "tiny", api_key_env="TRELLIS_TEST_KEY", max_retries=0)
        )
        with pytest.raises(Exception, match="HTTP 401"):
            refused.generate([[{"role": "user", "content": "2 + 3 ="}]], 4)
        refused.close()
