"""Responses for drafts from a real model: the tiny random Llama served by the evaluation tests'
OpenAI-compatible server (transformers behind FastAPI on 127.0.0.1), through the shared client,
with a 429 (Retry-After) and a stall past the client's timeout on the way."""

from __future__ import annotations

import pytest

from app.evaluation.generation.transformers_backend import TransformersBackend
from app.llm.client import ChatClient, EndpointSettings
from app.synthetic import generate
from app.synthetic.templates import BUILTIN
from tests.evaluation.openai_server import build_app
from tests.llm_server import Faults, serve
from tests.training.tiny_model import build_tiny_model


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> TransformersBackend:
    return TransformersBackend(build_tiny_model(tmp_path_factory.mktemp("tiny") / "model"))


def test_responses_from_the_tiny_model_survive_429_and_a_timeout(
    backend: TransformersBackend,
) -> None:
    faults = Faults()
    faults.fail(429, retry_after=0.1)
    faults.stall(2.0)
    drafts = [(1, [{"role": "user", "content": "What colour is the sky?"}]),
              (2, [{"role": "user", "content": "What do cats say?"}])]  # fmt: skip
    templates = {name: (text, 0) for name, text in BUILTIN.items()}
    with serve(build_app(backend, faults=faults)) as url:
        settings = EndpointSettings(url, "tiny", timeout_s=1.0, backoff_s=0.05, concurrency=1)
        with ChatClient(settings) as client:
            out = generate.responses(client, drafts, templates, generate.Sampling(0.0, 8))
            assert client.retries == 2  # the 429 and the timed-out request
    assert [d.target_id for d in out.drafts] == [1, 2]
    assert all(d.response for d in out.drafts) and out.counts["failed_requests"] == 0
    assert all(d.templates == {"response": 0} for d in out.drafts)
