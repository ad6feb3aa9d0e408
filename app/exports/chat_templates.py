"""Render conversations through chat templates, exactly as ``transformers`` does.

``render(template, messages)`` returns the same text as
``tokenizer.apply_chat_template(messages, tokenize=False)`` for a tokenizer whose ``chat_template``
is ``template.source`` and whose BOS/EOS tokens are ``template.bos_token``/``template.eos_token``,
without importing transformers: pure library code (stdlib and jinja2 only).

What is mirrored from ``transformers.utils.chat_template_utils`` (5.x):

* the Jinja environment: ``ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)``
  with ``jinja2.ext.loopcontrols`` and a ``{% generation %}`` tag (rendered as its body; the
  assistant-mask tracking is not needed here), the non-HTML-escaping ``tojson`` filter, and the
  globals ``raise_exception``, ``strftime_now``, ``dict`` and the underscore-refusing
  ``namespace``;
* the inputs: keys whose value is ``None`` are dropped from each message, everything is rebuilt
  from plain JSON types, reasoning given as ``thinking``/``reasoning`` is also exposed as
  ``reasoning_content`` (and vice versa), and the template sees ``messages``, ``tools``,
  ``documents`` (always ``None`` here), ``add_generation_prompt``, ``bos_token`` and
  ``eos_token``.  transformers also passes the tokenizer's other named special tokens
  (``unk_token``, ``pad_token``, ...); a ``ChatTemplate`` only knows BOS and EOS, so templates
  that read the others see them undefined.  An empty BOS/EOS is passed as ``""`` rather than
  left undefined, so ``bos_token + x`` works for templates loaded without token information.

Two things are added on top:

* system folding: templates that reject a system turn (``supports_system=False``, e.g. Mistral
  v0.1/v0.2 and Gemma) get it prepended to the first user turn (``system + "\\n\\n" + user``)
  and the result says ``folded_system=True``, so nothing is dropped silently;
* ``check_special_tokens``: the rendered text must hold the BOS at most once and only at the
  start (exactly once when the template emits it), and no message may contain the BOS or EOS
  text itself, since the tokenizer would turn it into a real control token in training data.

The built-in templates also have plain-Python renderers (``app.exports.fast_render``) that give
exactly the Jinja output several times faster; ``render`` uses them for plain, valid
conversations and takes the Jinja path for everything else, errors included.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.parser
import jinja2.utils
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.exports import template_limits
from app.exports.fast_render import RENDERERS, Renderer, render_fast
from app.exports.template_limits import LimitedEnvironment, TemplateLimitError

__all__ = [
    "BUILTIN",
    "ChatTemplate",
    "Rendered",
    "TemplateError",
    "check_special_tokens",
    "get_template",
    "load_custom",
    "render",
]


class TemplateError(ValueError):
    """A chat template is unknown, unreadable, broken, or refused the conversation."""


class TemplateOverLimit(TemplateError):
    """The template went past a rendering limit (time, output, recursion: template_limits)."""


@dataclass(frozen=True)
class ChatTemplate:
    name: str
    source: str
    """The Jinja template text."""
    bos_token: str
    eos_token: str
    supports_system: bool
    """False: a leading system turn is folded into the first user turn before rendering."""


@dataclass(frozen=True)
class Rendered:
    text: str
    folded_system: bool


# --- Built-in templates --------------------------------------------------------------------------
# Verbatim copies of the templates the models ship in their tokenizer_config.json.

# ChatML as used by teknium/OpenHermes-2.5-Mistral-7B (and the Qwen family's message layout);
# the template never emits a BOS, and <|im_end|> is the EOS those chat models stop on.
_CHATML = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# meta-llama/Meta-Llama-3-8B-Instruct (the plain Llama 3 instruct template, no tool calling).
# EOS is <|eot_id|>, as in the model's updated tokenizer/generation config: it closes every turn.
_LLAMA3 = (
    "{% set loop_messages = messages %}"
    "{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}"
)

# mistralai/Mistral-7B-Instruct-v0.2 / Mixtral-8x7B-Instruct-v0.1: strictly alternating
# user/assistant turns, no system role (raises), no generation prompt ([/INST] is the prompt).
_MISTRAL = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}"
    "{% endif %}"
    "{% endfor %}"
)

# google/gemma-7b-it (same as gemma-2-*-it): rejects a system turn, strictly alternating roles.
_GEMMA = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}"
    "{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
)

# microsoft/Phi-3-mini-4k-instruct after its mid-2024 update: the version WITH a <|system|>
# block (the April 2024 release had none and emitted {{ bos_token }} first).  This version never
# emits the BOS; it ends with the EOS unless a generation prompt is requested.
_PHI3 = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}"
    "{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}"
    "{% elif message['role'] == 'assistant' %}"
    "{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"
)

BUILTIN: dict[str, ChatTemplate] = {
    "chatml": ChatTemplate("chatml", _CHATML, "", "<|im_end|>", supports_system=True),
    "llama3": ChatTemplate(
        "llama3", _LLAMA3, "<|begin_of_text|>", "<|eot_id|>", supports_system=True
    ),
    "mistral": ChatTemplate("mistral", _MISTRAL, "<s>", "</s>", supports_system=False),
    "gemma": ChatTemplate("gemma", _GEMMA, "<bos>", "<eos>", supports_system=False),
    "phi3": ChatTemplate("phi3", _PHI3, "<s>", "<|endoftext|>", supports_system=True),
}

_FAST_RENDERERS: dict[str, Renderer] = {BUILTIN[name].source: fn for name, fn in RENDERERS.items()}
"""Jinja source of a built-in template -> its plain-Python renderer (``fast_render``).  Keyed by
source, so a custom template with a byte-identical source takes the fast path too."""


def get_template(name: str) -> ChatTemplate:
    """The built-in template called ``name``."""
    try:
        return BUILTIN[name]
    except KeyError:
        valid = ", ".join(sorted(BUILTIN))
        raise TemplateError(f"unknown chat template {name!r}; valid names: {valid}") from None


# --- Jinja environment (mirrors transformers' _cached_compile_jinja_template) ---------------------


class _GenerationTag(jinja2.ext.Extension):
    """``{% generation %}...{% endgeneration %}``: transformers tracks assistant spans with it;
    for text rendering it is just its body."""

    tags = {"generation"}

    def parse(self, parser: jinja2.parser.Parser) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        call = self.call_method("_body")
        return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _body(self, caller: Callable[[], str]) -> str:
        return caller()


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(
    x: Any,
    ensure_ascii: bool = False,
    indent: int | str | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # transformers' override: no HTML escaping, and the json.dumps options exposed
    return json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(format: str) -> str:
    return datetime.now().strftime(format)


class _TemplateDict:
    """``dict(...)`` for templates, without exposing the ``dict`` type itself."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict.fromkeys(*args, **kwargs)


def _check_namespace_name(name: object) -> None:
    if isinstance(name, str) and name.startswith("_"):
        raise jinja2.exceptions.SecurityError(
            "Chat templates cannot store underscore-prefixed attributes on a namespace, "
            f"but got {name!r}. Please rename the attribute."
        )


class _TemplateNamespace(jinja2.utils.Namespace):
    """``namespace(...)`` that refuses underscore-prefixed attributes, like transformers'."""

    def __init__(*args: Any, **kwargs: Any) -> None:
        self, rest = args[0], args[1:]
        attrs = dict(*rest, **kwargs)
        for name in attrs:
            _check_namespace_name(name)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name: str, value: Any) -> None:
        _check_namespace_name(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)


@functools.cache
def _environment() -> ImmutableSandboxedEnvironment:
    env = LimitedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[_GenerationTag, jinja2.ext.loopcontrols],
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.globals["dict"] = _TemplateDict()
    env.globals["namespace"] = _TemplateNamespace
    return env


@functools.lru_cache(maxsize=128)
def _compile_source(source: str) -> jinja2.Template:
    return _environment().from_string(source)


def _compile(template: ChatTemplate, where: str | None = None) -> jinja2.Template:
    try:
        return _compile_source(template.source)
    except jinja2.exceptions.TemplateSyntaxError as exc:
        place = where or f"chat template {template.name!r}"
        raise TemplateError(f"{place}: invalid Jinja on line {exc.lineno}: {exc.message}") from exc


# --- Inputs (mirrors apply_chat_template's normalisation) ----------------------------------------

_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


def _plain(value: Any) -> Any:
    """Rebuild ``value`` from plain JSON types, like transformers' ``_plain_template_data``."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, Mapping):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_plain(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    if callable(getattr(value, "model_dump", None)):
        return _plain(value.model_dump())
    return f"<{type(value).__name__}>"


def _alias_reasoning(chat: list[dict[str, Any]]) -> list[dict[str, Any]]:
    aliased = []
    for message in chat:
        reasoning = next(
            (message[key] for key in _REASONING_FIELDS if message.get(key) is not None), None
        )
        if reasoning is not None:
            message = {"thinking": reasoning, **message, "reasoning_content": reasoning}
        aliased.append(message)
    return aliased


def _normalise(template: ChatTemplate, messages: Sequence[Any]) -> list[dict[str, Any]]:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise TemplateError(f"chat template {template.name!r}: messages must be a list of dicts")
    if not messages:
        raise TemplateError(f"chat template {template.name!r}: the conversation is empty")
    normalised = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise TemplateError(
                f"chat template {template.name!r}: message {index} is not a dict: {message!r}"
            )
        # like transformers: a key whose value is None is treated as absent
        normalised.append({key: value for key, value in message.items() if value is not None})
    return normalised


def _fold_system(template: ChatTemplate, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    system, rest = messages[0], messages[1:]
    target = next((i for i, m in enumerate(rest) if m.get("role") == "user"), None)
    if target is None:
        raise TemplateError(
            f"chat template {template.name!r} has no system role and the conversation has no "
            "user turn to fold the system prompt into"
        )
    system_text = system.get("content", "")
    user_text = rest[target].get("content", "")
    if not isinstance(system_text, str) or not isinstance(user_text, str):
        raise TemplateError(
            f"chat template {template.name!r} has no system role; only plain-text system and "
            "user content can be folded together"
        )
    folded = dict(rest[target])
    folded["content"] = f"{system_text}\n\n{user_text}" if system_text else user_text
    return [*rest[:target], folded, *rest[target + 1 :]]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in _strings(item)]
    return []


# --- Rendering -----------------------------------------------------------------------------------


def _render_text(
    template: ChatTemplate,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    add_generation_prompt: bool,
) -> str:
    compiled = _compile(template)
    try:
        return template_limits.render(
            compiled,
            messages=_alias_reasoning(_plain(messages)),
            tools=_plain(tools),
            documents=None,
            add_generation_prompt=add_generation_prompt,
            bos_token=template.bos_token,
            eos_token=template.eos_token,
        )
    except jinja2.exceptions.TemplateError as exc:
        raise TemplateError(
            f"chat template {template.name!r} refused the conversation: {exc}"
        ) from exc
    except TemplateLimitError as exc:
        raise TemplateOverLimit(f"chat template {template.name!r}: {exc}") from exc
    except (TypeError, ValueError, LookupError, ArithmeticError) as exc:
        raise TemplateError(
            f"chat template {template.name!r} failed on the conversation: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _emits_bos(template: ChatTemplate) -> bool:
    bos = template.bos_token
    return bool(bos) and ("bos_token" in template.source or bos in template.source)


def check_special_tokens(
    rendered: str | Rendered,
    template: ChatTemplate,
    messages: Sequence[Mapping[str, Any]] = (),
) -> None:
    """Raise ``TemplateError`` unless BOS/EOS appear only where the template puts them.

    * the BOS appears at most once, and then at the very start; a template that emits the BOS
      (its source mentions ``bos_token`` or the BOS text) must start the text with it;
    * no message (content, tool calls, any string in it) contains the BOS or EOS text: a
      tokenizer turns such text into real control tokens, so training would see two BOS or an
      EOS in the middle of a turn.  Every EOS in the text then comes from the template itself.
    """
    text = rendered.text if isinstance(rendered, Rendered) else rendered
    name = template.name
    for index, message in enumerate(messages):
        for kind, token in (("BOS", template.bos_token), ("EOS", template.eos_token)):
            if token and any(token in s for s in _strings(message)):
                raise TemplateError(
                    f"chat template {name!r}: message {index} contains the {kind} token "
                    f"{token!r} as text; training would see an extra {kind}"
                )
    bos = template.bos_token
    if not bos:
        return
    count = text.count(bos)
    if count > 1:
        raise TemplateError(
            f"chat template {name!r}: the rendered text contains the BOS token {bos!r} "
            f"{count} times; training would see {count} BOS"
        )
    if count == 1 and not text.startswith(bos):
        raise TemplateError(
            f"chat template {name!r}: the BOS token {bos!r} appears inside the rendered text, "
            "not at its start"
        )
    if count == 0 and _emits_bos(template):
        raise TemplateError(
            f"chat template {name!r}: the rendered text does not start with the BOS token {bos!r}"
        )


def render(
    template: ChatTemplate,
    messages: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    add_generation_prompt: bool = False,
) -> Rendered:
    """Render ``messages`` like ``apply_chat_template(messages, tools=tools, tokenize=False)``.

    A leading system turn is folded into the first user turn when the template has no system
    role.  Raises ``TemplateError`` (naming the template) when the template refuses the
    conversation (e.g. Mistral/Gemma on non-alternating roles) or a special token is misplaced.

    Built-in templates render in plain Python (``fast_render``) when the conversation is plain
    and valid; anything else, errors included, goes through Jinja.
    """
    renderer = _FAST_RENDERERS.get(template.source)
    if renderer is not None:
        fast = render_fast(
            renderer,
            messages,
            tools,
            add_generation_prompt,
            bos_token=template.bos_token,
            eos_token=template.eos_token,
            supports_system=template.supports_system,
            emits_bos=_emits_bos(template),
        )
        if fast is not None:
            return Rendered(text=fast[0], folded_system=fast[1])
    return _render_jinja(template, messages, tools, add_generation_prompt)


def _render_jinja(
    template: ChatTemplate,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    add_generation_prompt: bool,
) -> Rendered:
    """``render`` through the Jinja template, whatever the template and the conversation."""
    chat = _normalise(template, messages)
    folded = False
    if not template.supports_system and chat[0].get("role") == "system":
        chat = _fold_system(template, chat)
        folded = True
    text = _render_text(template, chat, tools, add_generation_prompt)
    check_special_tokens(text, template, chat)
    return Rendered(text=text, folded_system=folded)


# --- Custom templates ----------------------------------------------------------------------------

_PROBE_SYSTEM = "trellis-system-probe-7f3a"


def _token_text(value: Any, field: str, path: Path) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("content"), str):
        return str(value["content"])  # an AddedToken dict
    raise TemplateError(f"{path}: {field} must be a string or an AddedToken dict, got {value!r}")


def _template_from_config(config: Any, path: Path) -> str:
    if not isinstance(config, Mapping):
        raise TemplateError(f"{path}: expected a JSON object")
    if "chat_template" not in config or config["chat_template"] is None:
        raise TemplateError(f"{path}: no chat_template field")
    value = config["chat_template"]
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        named: dict[str, str] = {}
        for entry in value:
            if not (
                isinstance(entry, Mapping)
                and isinstance(entry.get("name"), str)
                and isinstance(entry.get("template"), str)
            ):
                raise TemplateError(
                    f"{path}: chat_template list entries must be {{'name', 'template'}} strings, "
                    f"got {entry!r}"
                )
            named[entry["name"]] = entry["template"]
        if "default" not in named:
            names = ", ".join(sorted(named)) or "none"
            raise TemplateError(
                f"{path}: chat_template has no 'default' template (it has: {names})"
            )
        return named["default"]
    raise TemplateError(f"{path}: chat_template must be a string or a list of named templates")


def _supports_system(template: ChatTemplate) -> bool:
    """Whether the template renders a leading system turn (rather than raising or dropping it)."""
    probe = [
        {"role": "system", "content": _PROBE_SYSTEM},
        {"role": "user", "content": "Hello"},
    ]
    try:
        text = _render_text(template, probe, None, False)
    except TemplateOverLimit:
        raise  # a runaway template is refused, not taken for one without a system role
    except TemplateError:
        return False
    return _PROBE_SYSTEM in text


def load_custom(path: Path) -> ChatTemplate:
    """Load a template from a ``tokenizer_config.json`` or a ``*.jinja`` file.

    From ``tokenizer_config.json``: ``chat_template`` (a string, or a list of
    ``{"name", "template"}`` of which ``"default"`` is used) and ``bos_token``/``eos_token``
    (strings or AddedToken dicts; missing or null means none).  From a ``.jinja`` file: the
    whole file, with no BOS/EOS.  The name is the file stem; ``supports_system`` is found by
    rendering a probe conversation that opens with a system turn.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read the chat template: {exc}") from exc
    if path.suffix == ".jinja":
        source, bos, eos = text, "", ""
    elif path.suffix == ".json":
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TemplateError(f"{path}: not valid JSON: {exc}") from exc
        source = _template_from_config(config, path)
        bos = _token_text(config.get("bos_token"), "bos_token", path)
        eos = _token_text(config.get("eos_token"), "eos_token", path)
    else:
        raise TemplateError(f"{path}: expected a tokenizer_config.json or a .jinja file")
    if not source.strip():
        raise TemplateError(f"{path}: the chat template is empty")
    return from_source(path.stem, source, bos, eos, where=str(path))


def from_source(
    name: str, source: str, bos_token: str = "", eos_token: str = "", *, where: str | None = None
) -> ChatTemplate:
    """A custom template from its Jinja text (e.g. as stored in an export's parameters)."""
    if not source.strip():
        raise TemplateError(f"{where or name}: the chat template is empty")
    draft = ChatTemplate(name, source, bos_token, eos_token, supports_system=True)
    _compile(draft, where=where)
    return dataclasses.replace(draft, supports_system=_supports_system(draft))
