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
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.parser
import jinja2.utils

from app.exports import template_limits
from app.exports.builtin_templates import CHATML, GEMMA, LLAMA3, MISTRAL, PHI3
from app.exports.fast_render import RENDERERS, Renderer, render_fast
from app.exports.jinja_env import compile_source
from app.exports.template_inputs import alias_reasoning, fold_system, normalise, plain, strings
from app.exports.template_limits import TemplateLimitError
from app.exports.template_types import ChatTemplate, Rendered, TemplateError, TemplateOverLimit

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


BUILTIN: dict[str, ChatTemplate] = {
    "chatml": ChatTemplate("chatml", CHATML, "", "<|im_end|>", supports_system=True),
    "llama3": ChatTemplate(
        "llama3", LLAMA3, "<|begin_of_text|>", "<|eot_id|>", supports_system=True
    ),
    "mistral": ChatTemplate("mistral", MISTRAL, "<s>", "</s>", supports_system=False),
    "gemma": ChatTemplate("gemma", GEMMA, "<bos>", "<eos>", supports_system=False),
    "phi3": ChatTemplate("phi3", PHI3, "<s>", "<|endoftext|>", supports_system=True),
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


def _compile(template: ChatTemplate, where: str | None = None) -> jinja2.Template:
    try:
        return compile_source(template.source)
    except jinja2.exceptions.TemplateSyntaxError as exc:
        place = where or f"chat template {template.name!r}"
        raise TemplateError(f"{place}: invalid Jinja on line {exc.lineno}: {exc.message}") from exc


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
            messages=alias_reasoning(plain(messages)),
            tools=plain(tools),
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
            if token and any(token in s for s in strings(message)):
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
    chat = normalise(template, messages)
    folded = False
    if not template.supports_system and chat[0].get("role") == "system":
        chat = fold_system(template, chat)
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
