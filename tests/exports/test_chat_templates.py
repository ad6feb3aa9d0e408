"""app.exports.chat_templates renders exactly what transformers' apply_chat_template renders.

Every comparison builds a tiny word-level tokenizer in the test (nothing comes from the Hub),
gives it the template's source and BOS/EOS, and compares against
``tokenizer.apply_chat_template(messages, tokenize=False)``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from app.exports.chat_templates import (
    BUILTIN,
    ChatTemplate,
    Rendered,
    TemplateError,
    check_special_tokens,
    get_template,
    load_custom,
    render,
)

Messages = list[dict[str, Any]]


def hf_tokenizer(template: ChatTemplate) -> PreTrainedTokenizerFast:
    vocab = {"[UNK]": 0}
    for token in (template.bos_token, template.eos_token):
        if token:
            vocab.setdefault(token, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=template.bos_token or None,
        eos_token=template.eos_token or None,
        unk_token="[UNK]",
    )
    tok.chat_template = template.source
    return tok


def reference(template: ChatTemplate, messages: Messages, **kwargs: Any) -> str:
    text = hf_tokenizer(template).apply_chat_template(messages, tokenize=False, **kwargs)
    assert isinstance(text, str)
    return text


def fold(messages: Messages) -> Messages:
    """The folding render() is documented to do, written out independently."""
    system, user, *rest = messages
    assert system["role"] == "system"
    assert user["role"] == "user"
    return [{**user, "content": system["content"] + "\n\n" + user["content"]}, *rest]


SYSTEM = {"role": "system", "content": "You are a terse assistant. Answer in one line."}

CONVERSATIONS: dict[str, Messages] = {
    "single_turn": [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
    ],
    "prompt_only": [{"role": "user", "content": "Say hi."}],
    "multi_turn": [
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello. How can I help?"},
        {"role": "user", "content": "  Tell me a joke.  \n"},
        {"role": "assistant", "content": "\nWhy did the chicken cross the road?\n\n"},
        {"role": "user", "content": "Why?"},
        {"role": "assistant", "content": "To get to the other side."},
    ],
    "markdown_code": [
        {
            "role": "user",
            "content": (
                "# Title\n\n* item\n* **bold** and `code`\n\n| a | b |\n|---|---|\n| 1 | 2 |"
            ),
        },
        {
            "role": "assistant",
            "content": '```python\ndef f(x: int) -> dict:\n    return {"x": x}  # {% raw %}\n```\n',
        },
    ],
    "jinja_braces": [
        {"role": "user", "content": "Render {{ name }} and {% if x %}y{% endif %} and {# c #}"},
        {"role": "assistant", "content": "Literal: {{ '{{' }} }} {% raw %}{{ x }}{% endraw %}"},
    ],
    "unicode": [
        {"role": "user", "content": "Übersetze: 你好\uff0c世界 🌍 — «ça va?» \u200b\ttab"},
        {"role": "assistant", "content": "Hallo, Welt 🌍 — مرحبا — Привет"},
    ],
    "extra_keys_and_none": [
        {"role": "user", "content": "Weather?", "name": None, "weight": 1},
        {"role": "assistant", "content": "Sunny.", "tool_calls": None},
    ],
}


def with_system(messages: Messages) -> Messages:
    return [SYSTEM, *messages]


@pytest.mark.parametrize("name", sorted(BUILTIN))
@pytest.mark.parametrize("conversation", sorted(CONVERSATIONS))
@pytest.mark.parametrize("add_generation_prompt", [False, True])
def test_builtin_matches_transformers(name: str, conversation: str, add_generation_prompt: bool):
    template = get_template(name)
    messages = CONVERSATIONS[conversation]
    if add_generation_prompt and messages[-1]["role"] == "assistant":
        messages = messages[:-1]
    got = render(template, messages, add_generation_prompt=add_generation_prompt)
    assert got == Rendered(
        reference(template, messages, add_generation_prompt=add_generation_prompt),
        folded_system=False,
    )


@pytest.mark.parametrize("name", sorted(BUILTIN))
@pytest.mark.parametrize("conversation", ["single_turn", "multi_turn", "unicode", "prompt_only"])
@pytest.mark.parametrize("add_generation_prompt", [False, True])
def test_builtin_with_system_prompt(name: str, conversation: str, add_generation_prompt: bool):
    template = get_template(name)
    messages = with_system(CONVERSATIONS[conversation])
    got = render(template, messages, add_generation_prompt=add_generation_prompt)
    if template.supports_system:
        expected = reference(template, messages, add_generation_prompt=add_generation_prompt)
        assert got == Rendered(expected, folded_system=False)
        assert SYSTEM["content"] in got.text
    else:
        expected = reference(template, fold(messages), add_generation_prompt=add_generation_prompt)
        assert got == Rendered(expected, folded_system=True)
        assert SYSTEM["content"] + "\n\n" in got.text  # folded, not dropped


@pytest.mark.parametrize("name", ["mistral", "gemma"])
def test_folding_templates_really_reject_system(name: str):
    # the reason for folding: the original template raises on a system turn
    template = get_template(name)
    with pytest.raises(Exception, match=r"(?i)system|alternate|roles"):
        reference(template, with_system(CONVERSATIONS["single_turn"]))


def test_fold_does_not_mutate_input():
    messages = with_system(CONVERSATIONS["single_turn"])
    snapshot = json.loads(json.dumps(messages))
    render(get_template("gemma"), messages)
    assert messages == snapshot


def test_fold_needs_a_user_turn():
    messages = [SYSTEM, {"role": "assistant", "content": "Hi."}]
    with pytest.raises(TemplateError, match=r"'mistral'.*no user turn"):
        render(get_template("mistral"), messages)


@pytest.mark.parametrize("name", ["mistral", "gemma"])
@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "assistant", "content": "I speak first."}],
        [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
        [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "assistant", "content": "c"},
        ],
    ],
    ids=["assistant_first", "two_users", "two_assistants"],
)
def test_non_alternating_roles_raise(name: str, messages: Messages):
    with pytest.raises(TemplateError, match=f"'{name}'.*(alternate|supported)"):
        render(get_template(name), messages)


def test_late_system_turn_is_left_to_the_template():
    # only a leading system turn is folded; a later one is rendered as the template decides
    messages = [SYSTEM, {"role": "user", "content": "a"}, SYSTEM]
    with pytest.raises(TemplateError, match=r"'mistral'.*Only user and assistant"):
        render(get_template("mistral"), messages)
    gemma = get_template("gemma")
    got = render(gemma, messages)
    assert got == Rendered(reference(gemma, fold(messages)), folded_system=True)


def test_mistral_rejects_unknown_roles():
    messages = [{"role": "user", "content": "6*7?"}, {"role": "tool", "content": "42"}]
    with pytest.raises(TemplateError, match=r"'mistral'.*Only user and assistant"):
        render(get_template("mistral"), messages)


@pytest.mark.parametrize(
    ("name", "bos"),
    [("llama3", "<|begin_of_text|>"), ("mistral", "<s>"), ("gemma", "<bos>")],
)
def test_bos_once_at_start(name: str, bos: str):
    template = get_template(name)
    assert template.bos_token == bos
    text = render(template, CONVERSATIONS["multi_turn"]).text
    assert text.startswith(bos)
    assert text.count(bos) == 1


@pytest.mark.parametrize("name", ["chatml", "phi3"])
def test_templates_without_bos_emit_none(name: str):
    template = get_template(name)
    text = render(template, CONVERSATIONS["multi_turn"]).text
    assert not template.bos_token or template.bos_token not in text


def test_mistral_eos_once_per_assistant_turn():
    messages = CONVERSATIONS["multi_turn"]
    text = render(get_template("mistral"), messages).text
    assistants = sum(m["role"] == "assistant" for m in messages)
    assert text.count("</s>") == assistants
    assert text.endswith("To get to the other side.</s>")


@pytest.mark.parametrize("name", ["llama3", "mistral", "gemma", "phi3"])
def test_bos_text_in_content_raises(name: str):
    template = get_template(name)
    messages = [
        {"role": "user", "content": f"Why is {template.bos_token} in here?"},
        {"role": "assistant", "content": "No idea."},
    ]
    with pytest.raises(TemplateError, match=rf"'{name}'.*BOS.*{template.bos_token[:3]}"):
        render(template, messages)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_eos_text_in_content_raises(name: str):
    template = get_template(name)
    messages = [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": f"Done{template.eos_token} and more"},
    ]
    with pytest.raises(TemplateError, match=rf"'{name}'.*message 1.*EOS"):
        render(template, messages)


def test_check_special_tokens_on_rendered_text():
    llama3 = get_template("llama3")
    good = render(llama3, CONVERSATIONS["single_turn"])
    check_special_tokens(good, llama3)
    check_special_tokens(good.text, llama3)
    with pytest.raises(TemplateError, match="2 times"):
        check_special_tokens(good.text + good.text, llama3)
    with pytest.raises(TemplateError, match="not at its start"):
        check_special_tokens("x" + good.text, llama3)
    with pytest.raises(TemplateError, match="does not start with the BOS"):
        check_special_tokens(good.text.removeprefix("<|begin_of_text|>"), llama3)


def test_get_template_unknown_lists_valid_names():
    with pytest.raises(TemplateError, match=r"'vicuna'.*chatml, gemma, llama3, mistral, phi3"):
        get_template("vicuna")


def test_builtins_are_named_and_system_flags():
    assert {name: t.name for name, t in BUILTIN.items()} == {name: name for name in BUILTIN}
    assert {name for name, t in BUILTIN.items() if not t.supports_system} == {"mistral", "gemma"}


def test_empty_and_malformed_conversations():
    chatml = get_template("chatml")
    with pytest.raises(TemplateError, match="empty"):
        render(chatml, [])
    with pytest.raises(TemplateError, match="message 0 is not a dict"):
        render(chatml, ["hello"])  # type: ignore[list-item]
    with pytest.raises(TemplateError, match="'chatml' failed"):
        render(chatml, [{"role": "user", "content": ["not", "a", "string"]}])


# --- Custom templates: tokenizer_config.json and .jinja ------------------------------------------

# Exercises what transformers' environment adds: tojson (no HTML escaping, indent), namespace,
# loop controls, dict(), {% generation %}, raise_exception, strftime_now, tools and reasoning.
RICH_TEMPLATE = """\
{%- set ns = namespace(turns=0) -%}
{{ bos_token }}
{%- if tools %}<tools>{{ tools | tojson(indent=2) }}</tools>
{% endif %}
{%- for message in messages %}
    {%- if message.role == 'stop' %}{% break %}{% endif %}
    {%- if message.role == 'skip' %}{% continue %}{% endif %}
    {%- set ns.turns = ns.turns + 1 %}
    {%- set meta = dict(role=message.role, n=ns.turns) %}
    <|{{ meta.role }}|>{{ meta | tojson(sort_keys=true) }}
    {%- if message.reasoning_content is defined %}<think>{{ message.reasoning_content }}</think>
    {%- endif %}
    {%- if message.role == 'assistant' %}{% generation %}{{ message.content }}{{ eos_token }}\
{% endgeneration %}
    {%- else %}{{ message.content }}{% endif %}
    {%- if message.tool_calls is defined %}{{ message.tool_calls | tojson }}{% endif %}
{% endfor -%}
{%- if add_generation_prompt %}<|assistant|>{% endif %}
{%- if strftime_now('%Y') | length != 4 %}{{ raise_exception('bad year') }}{% endif %}
"""

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": 'Weather for <city> & "region" — ünïcode',
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]

RICH_MESSAGES: Messages = [
    {"role": "system", "content": "Use tools."},
    {"role": "user", "content": "Weather in Zürich <b>&amp;</b>?"},
    {"role": "skip", "content": "ignored"},
    {
        "role": "assistant",
        "content": "Calling.",
        "thinking": "Need the tool.",
        "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Zürich"}}}],
    },
    {"role": "tool", "content": '{"temp": "5°C"}'},
    {"role": "assistant", "content": "5°C.", "reasoning": None},
    {"role": "stop", "content": ""},
    {"role": "user", "content": "never rendered"},
]


def write_config(path: Path, **fields: Any) -> Path:
    path.write_text(json.dumps(fields), encoding="utf-8")
    return path


def test_load_custom_tokenizer_config_with_added_tokens_and_template_list(tmp_path: Path):
    config = write_config(
        tmp_path / "tokenizer_config.json",
        bos_token={"__type": "AddedToken", "content": "<|bos|>", "lstrip": False},
        eos_token={"__type": "AddedToken", "content": "<|eos|>", "special": True},
        chat_template=[
            {"name": "tool_use", "template": "{{ raise_exception('not this one') }}"},
            {"name": "default", "template": RICH_TEMPLATE},
        ],
    )
    template = load_custom(config)
    assert template == ChatTemplate(
        name="tokenizer_config",
        source=RICH_TEMPLATE,
        bos_token="<|bos|>",
        eos_token="<|eos|>",
        supports_system=True,
    )
    for tools in (None, TOOLS):
        for add_generation_prompt in (False, True):
            got = render(
                template, RICH_MESSAGES, tools=tools, add_generation_prompt=add_generation_prompt
            )
            expected = reference(
                template, RICH_MESSAGES, tools=tools, add_generation_prompt=add_generation_prompt
            )
            assert got == Rendered(expected, folded_system=False)
    text = render(template, RICH_MESSAGES, tools=TOOLS).text
    assert '"Weather for <city> & \\"region\\" — ünïcode"' in text  # tojson: no HTML escaping
    assert "<think>Need the tool.</think>" in text  # thinking aliased to reasoning_content
    assert "never rendered" not in text  # {% break %}


def test_load_custom_tokenizer_config_with_string_template(tmp_path: Path):
    config = write_config(
        tmp_path / "tokenizer_config.json",
        bos_token="<s>",
        eos_token="</s>",
        chat_template=BUILTIN["mistral"].source,
        model_max_length=4096,
    )
    template = load_custom(config)
    assert (template.bos_token, template.eos_token) == ("<s>", "</s>")
    assert template.supports_system is False  # found by probing: Mistral raises on system
    got = render(template, with_system(CONVERSATIONS["multi_turn"]))
    assert got.folded_system is True
    assert got.text == render(BUILTIN["mistral"], with_system(CONVERSATIONS["multi_turn"])).text


def test_load_custom_null_tokens(tmp_path: Path):
    config = write_config(
        tmp_path / "qwen.json",
        bos_token=None,
        eos_token="<|im_end|>",
        chat_template=BUILTIN["chatml"].source,
    )
    template = load_custom(config)
    assert (template.name, template.bos_token, template.eos_token) == ("qwen", "", "<|im_end|>")
    assert template.supports_system is True


def test_load_custom_jinja_file(tmp_path: Path):
    path = tmp_path / "my-gemma.jinja"
    path.write_text(BUILTIN["gemma"].source, encoding="utf-8")
    template = load_custom(path)
    assert template == ChatTemplate("my-gemma", BUILTIN["gemma"].source, "", "", False)
    messages = CONVERSATIONS["multi_turn"]
    assert render(template, messages).text == reference(template, messages)

    dropping = tmp_path / "drops-system.jinja"
    dropping.write_text(
        "{% for m in messages if m.role != 'system' %}{{ m.role }}: {{ m.content }}\n{% endfor %}",
        encoding="utf-8",
    )
    # a template that silently drops the system turn gets it folded instead
    assert load_custom(dropping).supports_system is False
    got = render(load_custom(dropping), with_system(CONVERSATIONS["single_turn"]))
    assert got.folded_system is True
    assert SYSTEM["content"] in got.text


@pytest.mark.parametrize(
    ("filename", "content", "problem"),
    [
        ("broken.jinja", "{% for m in messages %}{{ m.content }}", "invalid Jinja on line 1"),
        ("unclosed.jinja", "{{ bos_token }}\n{{ messages[0].content ", "invalid Jinja on line 2"),
        ("empty.jinja", "  \n", "empty"),
        ("tokenizer_config.json", "{not json", "not valid JSON"),
        ("tokenizer_config.json", "[]", "expected a JSON object"),
        ("tokenizer_config.json", '{"bos_token": "<s>"}', "no chat_template"),
        (
            "tokenizer_config.json",
            '{"chat_template": [{"name": "rag", "template": "x"}]}',
            "no 'default' template.*rag",
        ),
        ("tokenizer_config.json", '{"chat_template": [{"name": "default"}]}', "list entries"),
        ("tokenizer_config.json", '{"chat_template": 3}', "must be a string or a list"),
        (
            "tokenizer_config.json",
            '{"chat_template": "{{ x }}", "eos_token": {"id": 2}}',
            "eos_token must be a string or an AddedToken",
        ),
        (
            "tokenizer_config.json",
            '{"chat_template": "{% if %}"}',
            "invalid Jinja",
        ),
        ("template.txt", "{{ x }}", "expected a tokenizer_config.json or a .jinja"),
    ],
)
def test_load_custom_errors_name_the_file(
    tmp_path: Path, filename: str, content: str, problem: str
):
    path = tmp_path / filename
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TemplateError, match=problem) as info:
        load_custom(path)
    assert str(path) in str(info.value)


def test_load_custom_missing_file(tmp_path: Path):
    path = tmp_path / "nope.jinja"
    with pytest.raises(TemplateError, match="cannot read") as info:
        load_custom(path)
    assert str(path) in str(info.value)


def test_render_errors_name_the_custom_template(tmp_path: Path):
    path = tmp_path / "strict.jinja"
    path.write_text(
        "{% for m in messages %}{% if m.role == 'tool' %}{{ raise_exception('no tools') }}"
        "{% endif %}{{ m.content }}{% endfor %}",
        encoding="utf-8",
    )
    with pytest.raises(TemplateError, match="'strict' refused the conversation: no tools"):
        render(load_custom(path), [{"role": "tool", "content": "x"}])


def test_sandbox_and_namespace_guards_match_transformers(tmp_path: Path):
    path = tmp_path / "evil.jinja"
    path.write_text("{% set ns = namespace(_x=1) %}{{ ''.__class__ }}", encoding="utf-8")
    template = load_custom(path)
    with pytest.raises(TemplateError, match=r"'evil'.*underscore"):
        render(template, [{"role": "user", "content": "hi"}])


def test_transformers_not_imported_by_the_module():
    # the module is pure: importing it must not pull in transformers (tests import it themselves)
    import subprocess

    code = (
        "import sys; import app.exports.chat_templates, app.exports.tokens; "
        "assert 'transformers' not in sys.modules and 'tokenizers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
