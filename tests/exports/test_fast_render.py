"""The plain-Python renderers of app.exports.fast_render give exactly what the Jinja path gives.

For every built-in template, on a generated corpus (valid and invalid conversations alike) and on
the real sample data, ``render`` (which takes the fast path) must return the same ``Rendered`` as
``_render_jinja`` (the sandboxed Jinja template), or raise the same ``TemplateError``; and the fast
path must actually answer for every plain conversation the Jinja path accepts.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
from collections import OrderedDict
from typing import Any

import pytest

from app.exports import chat_templates, template_inputs
from app.exports.chat_templates import (
    BUILTIN,
    ChatTemplate,
    Rendered,
    TemplateError,
    render,
)
from app.exports.fast_render import RENDERERS, render_fast
from app.formats.records import PairRecord, RecordInvalid
from app.formats.shapes import parse_record
from tests.exports.test_chat_templates import reference
from tests.factories import SHARED_DATA

Messages = list[dict[str, Any]]
Outcome = tuple[str, Rendered | str]

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look <things> up — ünïcode",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]


def jinja_outcome(
    template: ChatTemplate, messages: Any, tools: Any = None, agp: bool = False
) -> Outcome:
    try:
        return "ok", chat_templates._render_jinja(template, messages, tools, agp)
    except TemplateError as exc:
        return "error", str(exc)


def public_outcome(
    template: ChatTemplate, messages: Any, tools: Any = None, agp: bool = False
) -> Outcome:
    try:
        return "ok", render(template, messages, tools=tools, add_generation_prompt=agp)
    except TemplateError as exc:
        return "error", str(exc)


def fast_only(
    template: ChatTemplate, messages: Any, tools: Any = None, agp: bool = False
) -> Rendered | None:
    done = render_fast(
        chat_templates._FAST_RENDERERS[template.source],
        messages,
        tools,
        agp,
        bos_token=template.bos_token,
        eos_token=template.eos_token,
        supports_system=template.supports_system,
        emits_bos=chat_templates._emits_bos(template),
    )
    return None if done is None else Rendered(*done)


def is_plain_conversation(messages: Any) -> bool:
    return (
        type(messages) is list
        and bool(messages)
        and all(
            type(m) is dict and type(m.get("role")) is str and type(m.get("content")) is str
            for m in messages
        )
    )


def assert_same(
    template: ChatTemplate, messages: Any, tools: Any = None, agp: bool = False
) -> Outcome:
    """The public render equals the Jinja path; the fast path answers exactly when it should."""
    snapshot = json.dumps(messages, default=repr)
    expected = jinja_outcome(template, messages, tools, agp)
    assert public_outcome(template, messages, tools, agp) == expected
    fast = fast_only(template, messages, tools, agp)
    if fast is not None:
        assert ("ok", fast) == expected
    elif expected[0] == "ok":
        # only inputs outside the documented fast-path domain may fall back
        assert not is_plain_conversation(messages) or tools_not_plain(tools) or deep(messages)
    assert json.dumps(messages, default=repr) == snapshot  # never mutated
    return expected


def tools_not_plain(tools: Any) -> bool:
    return tools is not None and json.loads(json.dumps(tools, default=repr)) != tools


def deep(messages: Any) -> bool:
    return "deep" in json.dumps(messages, default=repr)


# --- Generated corpus ----------------------------------------------------------------------------

TOKENS = sorted(
    {t.bos_token for t in BUILTIN.values() if t.bos_token}
    | {t.eos_token for t in BUILTIN.values()}
    | {"<|im_start|>", "[INST]", "[/INST]", "<start_of_turn>", "<end_of_turn>", "<|end|>"}
    | {"<|start_header_id|>", "<|end_header_id|>", "<|user|>", "<|assistant|>", "<|system|>"}
)

PIECES = [
    "",
    " ",
    "\n",
    "\n\n",
    "\t",
    "\r\n",
    "  padded  ",
    "Hello, world.",
    "What is 2 + 2?",
    "Übersetze: 你好\uff0c世界 🌍 — «ça va?»",
    "مرحبا Привет",
    "\u3000ideographic space\u3000",
    "\xa0nbsp\xa0",
    "\u200bzero width\u200b",
    "\x1c\x1d\x1e\x1f\x85\u2028\u2029",
    "\x0b\x0c",
    "{{ name }} {% if x %}y{% endif %} {# c #}",
    "{% raw %}{{ x }}{% endraw %}",
    "```python\ndef f(x):\n    return {'x': x}\n```\n",
    "trailing newline\n",
    "trailing newlines\n\n\n",
    "trailing spaces   ",
    "\n leading",
    "line1\nline2\n\nline4",
    "<",
    "s>",
    "|>",
    "\\n \\t \\u0000",
    "\x00nul",
    "🧪" * 5,
    "\ud800 lone surrogate",
    "a" * 300,
]


def random_text(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.06:
        return rng.choice(TOKENS)  # special-token-like text: errors for some templates
    if roll < 0.12:
        return rng.choice(PIECES) + rng.choice(TOKENS) + rng.choice(PIECES)
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 4)))


def random_extras(rng: random.Random, role: str) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    if rng.random() < 0.25:
        extras["weight"] = rng.choice([0, 1, 0.5, True, False, None])
    if rng.random() < 0.15:
        extras["name"] = rng.choice(["alice", "bob_2", "", "ünï", None, rng.choice(TOKENS)])
    if role == "assistant" and rng.random() < 0.15:
        extras["tool_calls"] = [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "lookup", "arguments": {"q": rng.choice(PIECES)}},
            }
        ]
    if role == "tool" and rng.random() < 0.5:
        extras["tool_call_id"] = "call_1"
    if rng.random() < 0.05:
        extras[rng.choice(["thinking", "reasoning", "reasoning_content"])] = random_text(rng)
    if rng.random() < 0.03:
        extras["meta"] = {"nested": [1, 2.5, None, {"deeper": [True, "x"]}], "n": None}
    return extras


def random_conversation(rng: random.Random) -> Messages:
    messages: Messages = []
    shape = rng.random()
    if rng.random() < 0.35:
        messages.append({"role": "system", "content": random_text(rng)})
    turns = rng.randint(1, 7)
    for index in range(turns):
        role = "user" if index % 2 == 0 else "assistant"
        if shape < 0.15:  # not alternating, odd roles
            role = rng.choice(["user", "assistant", "system", "tool", "", "User", "model"])
        elif shape < 0.25 and role == "user" and index > 0 and rng.random() < 0.5:
            role = "tool"
        messages.append({"role": role, "content": random_text(rng), **random_extras(rng, role)})
    if rng.random() < 0.03:
        messages.append({"role": "system", "content": "late system turn"})
    if rng.random() < 0.04:  # content the fast path leaves to Jinja
        victim = rng.choice(messages)
        victim["content"] = rng.choice([None, ["a", "list"], 42, {"type": "text"}])
    if rng.random() < 0.02:
        del rng.choice(messages)["role"]
    return messages


CORPUS = [random_conversation(random.Random(seed)) for seed in range(400)]

HANDWRITTEN: list[Messages] = [
    [{"role": "user", "content": ""}],
    [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}],
    [{"role": "system", "content": ""}, {"role": "user", "content": "hi"}],
    [{"role": "system", "content": "  sys  "}, {"role": "user", "content": ""}],
    [{"role": "system", "content": "s"}, {"role": "assistant", "content": "no user"}],
    [
        {"role": "system", "content": "s"},
        {"role": "system", "content": "t"},
        {"role": "user", "content": "u"},
    ],
    [
        {"role": "system", "content": "s"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "u"},
    ],
    [
        {"role": "system", "content": "s"},
        {"role": "system", "content": "t"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "u"},
    ],
    [{"role": "user", "content": "x <|im_end|> y"}, {"role": "assistant", "content": "z"}],
    [{"role": "user", "content": "<s>"}],
    [{"role": "user", "content": "a<"}, {"role": "assistant", "content": "s>b"}],
    [{"role": "user", "content": "hi", "name": None, "weight": None, "tool_calls": None}],
    [{"role": "user", "content": "hi", "content_extra": "<|eot_id|>"}],
    [{"role": "<|im_end|>", "content": "role holds the eos"}],
    [{"role": "user", "content": "u"}, {"role": "tool", "content": "t"}],
    [{"role": "tool", "content": "t"}],
    [{"role": "assistant", "content": "first"}],
    [{"role": "user", "content": "u", "thinking": "hmm", "reasoning": None}],
    [{"role": "user"}],
    [{"role": "user", "content": None}],
    [{"content": "no role"}],
    [{"role": 3, "content": "int role"}],
]


def edge_templates() -> list[ChatTemplate]:
    """Custom templates with a built-in's exact source: other BOS/EOS, other system handling."""
    out = []
    for template in BUILTIN.values():
        out.append(
            dataclasses.replace(template, name=f"{template.name}-bare", bos_token="", eos_token="")
        )
        out.append(
            dataclasses.replace(
                template,
                name=f"{template.name}-flipped",
                supports_system=not template.supports_system,
            )
        )
    # BOS text that the template's own literals contain
    out.append(dataclasses.replace(BUILTIN["chatml"], name="chatml-bos", bos_token="<|im_start|>"))
    out.append(dataclasses.replace(BUILTIN["phi3"], name="phi3-bos", bos_token="<|user|>"))
    out.append(dataclasses.replace(BUILTIN["llama3"], name="llama3-eos", eos_token="\n\n"))
    return out


def test_every_builtin_has_a_fast_renderer():
    assert set(RENDERERS) == set(BUILTIN)
    assert set(chat_templates._FAST_RENDERERS) == {t.source for t in BUILTIN.values()}


@pytest.mark.parametrize("name", sorted(BUILTIN))
@pytest.mark.parametrize("agp", [False, True])
def test_generated_corpus_matches_jinja(name: str, agp: bool):
    template = BUILTIN[name]
    outcomes = []
    for messages in [*CORPUS, *HANDWRITTEN]:
        outcomes.append(assert_same(template, messages, None, agp))
        outcomes.append(assert_same(template, messages, TOOLS, agp))
    ok = sum(kind == "ok" for kind, _ in outcomes)
    # the corpus exercises both sides broadly for every template
    assert ok >= 100
    assert len(outcomes) - ok >= 20
    folded = sum(kind == "ok" and r.folded_system for kind, r in outcomes)  # type: ignore[union-attr]
    assert (folded > 20) == (not template.supports_system)


@pytest.mark.parametrize("template", edge_templates(), ids=lambda t: t.name)
def test_custom_templates_with_builtin_source_match_jinja(template: ChatTemplate):
    for messages in [*CORPUS[:150], *HANDWRITTEN]:
        for agp in (False, True):
            assert_same(template, messages, None, agp)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_inputs_outside_the_fast_path_fall_back(name: str):
    template = BUILTIN[name]
    base: Messages = [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]

    class Text(str):
        pass

    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    nested: Any = "deep"
    for _ in range(40):
        nested = [nested]
    odd_inputs: list[tuple[Any, Any]] = [
        (tuple(base), None),
        ([OrderedDict(base[0]), base[1]], None),
        ([{"role": Text("user"), "content": "u"}], None),
        ([{"role": "user", "content": Text("u")}], None),
        ([{**base[0], "meta": (1, 2)}, base[1]], None),
        ([{**base[0], "meta": {1: "int key"}}, base[1]], None),
        ([{**base[0], "meta": nested}, base[1]], None),
        ([{**base[0], "meta": object()}, base[1]], None),
        (base, [{"type": "function", "function": object()}]),
        (base, ({"tuple": "tools"},)),
        ([], None),
        ("user: hi", None),
        (["not a dict"], None),
    ]
    for messages, tools in odd_inputs:
        assert fast_only(template, messages, tools) is None
        assert public_outcome(template, messages, tools) == jinja_outcome(template, messages, tools)
    # cyclic data: neither path may hang; the fast path refuses it without recursing forever
    assert fast_only(template, [{**base[0], "meta": cyclic}, base[1]]) is None


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_fast_path_answers_plain_conversations(name: str):
    template = BUILTIN[name]
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi", "weight": 0},
        {"role": "assistant", "content": "Hello.", "weight": 1, "tool_calls": [{"id": "1"}]},
    ]
    fast = fast_only(template, messages, TOOLS)
    assert fast is not None
    assert fast == chat_templates._render_jinja(template, messages, TOOLS, False)


def test_sample_against_transformers():
    # a slice of the corpus straight against transformers, on top of test_chat_templates
    for template in BUILTIN.values():
        checked = 0
        for messages in CORPUS:
            kind, rendered = public_outcome(template, messages)
            if kind != "ok" or not is_plain_conversation(messages):
                continue
            assert isinstance(rendered, Rendered)
            chat = template_inputs.normalise(template, messages)
            if rendered.folded_system:
                chat = template_inputs.fold_system(template, chat)
            assert rendered.text == reference(template, chat)
            checked += 1
            if checked == 15:
                break
        assert checked == 15


# --- Real sample data ----------------------------------------------------------------------------


def alpaca_conversations(limit: int) -> list[Messages]:
    rows = json.loads((SHARED_DATA / "alpaca_5000.json").read_text(encoding="utf-8"))[:limit]
    return [parse_record(row, "alpaca").messages for row in rows]  # type: ignore[union-attr]


def hh_conversations(limit: int) -> list[Messages]:
    out = []
    with gzip.open(SHARED_DATA / "hh_rlhf_harmless_test.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            try:
                pair = parse_record(json.loads(line), "hh")
            except RecordInvalid:
                continue  # the importer rejects it too (e.g. an empty response)
            assert isinstance(pair, PairRecord)
            out.append([*pair.prompt, *pair.chosen])
            out.append([*pair.prompt, *pair.rejected])
            if len(out) >= limit:
                break
    return out


@pytest.fixture(scope="module")
def sample_conversations() -> list[Messages]:
    return alpaca_conversations(1000) + hh_conversations(300)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_sample_data_matches_jinja(name: str, sample_conversations: list[Messages]):
    template = BUILTIN[name]
    system = {"role": "system", "content": "You are a helpful assistant.\n"}
    answered = 0
    for index, messages in enumerate(sample_conversations):
        agp = index % 3 == 0
        assert_same(template, messages, None, agp)
        answered += fast_only(template, messages, None, agp) is not None
        if index % 5 == 0:
            assert_same(template, [system, *messages], None, agp)
    # alpaca and HH are plain alternating conversations: the fast path takes (nearly) all of them
    assert answered >= 0.95 * len(sample_conversations)
