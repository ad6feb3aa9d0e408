"""Limits on rendering user-supplied chat templates: time, output size, recursion, memory.

A custom template is arbitrary Jinja. The sandbox already keeps it away from Python internals;
these limits keep it from taking the host down:

- `LimitedEnvironment` checks a per-render deadline wherever a template does work (attribute
  and item access, calls, filters, operators, `range` iteration and every chunk of output),
  refuses `*`/`**` whose result would be huge, any int argument to a filter above the output
  limit (`center(400000000)`), and output past `max_output_chars`. A recursive macro's
  RecursionError and a MemoryError become `TemplateError`.
- `isolated(fn, ...)` runs a template check in a separate process with an address-space limit
  and a hard deadline, so a request that test-renders a template can never hang or bloat the
  web server: the child is killed when the time is up.

The export job renders every conversation under the same `LimitedEnvironment` limits.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import multiprocessing
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from jinja2.runtime import Context
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TemplateLimits:
    timeout_s: float = 2.0
    max_output_chars: int = 1_000_000
    memory_bytes: int = 1 << 30  # address space of the isolated check process


class TemplateLimitError(ValueError):
    """A template went past a limit (the message says which)."""


@dataclass(slots=True)
class _Budget:
    deadline: float
    max_output: int
    written: int = 0


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("budget", default=None)
_DEFAULT = TemplateLimits()


def _tick() -> None:
    budget = _BUDGET.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise TemplateLimitError("the chat template took too long to render")


def _max_output() -> int:
    budget = _BUDGET.get()
    return budget.max_output if budget is not None else _DEFAULT.max_output_chars


def _guard_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        limit = _max_output()
        for value in (*args, *kwargs.values()):
            if type(value) is int and value > limit:
                raise TemplateLimitError(f"filter {name!r}: {value} is over the output limit")
        return fn(*args, **kwargs)

    return guarded


def _range(*args: int) -> Iterator[int]:
    span = range(*args)
    if len(span) > MAX_RANGE:
        raise TemplateLimitError(f"range() is limited to {MAX_RANGE} items")
    for n, value in enumerate(span):
        if n % 256 == 0:
            _tick()
        yield value


class LimitedEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _range
        self.filters = {name: _guard_filter(name, fn) for name, fn in self.filters.items()}

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _tick()
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        limit = _max_output()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sized and len(seq) * times > limit:
                    raise TemplateLimitError("a repeated string or list is over the output limit")
        elif operator == "**" and isinstance(right, int) and abs(right) > 1024:
            raise TemplateLimitError("an exponent over 1024 is not allowed in a chat template")
        return super().call_binop(context, operator, left, right)


def render(compiled: Any, limits: TemplateLimits | None = None, **context: Any) -> str:
    """`compiled.render(**context)` under the limits: streamed, so output past the limit stops
    the render instead of being built first."""
    limits = limits or current_limits()
    budget = _Budget(time.monotonic() + limits.timeout_s, limits.max_output_chars)
    token = _BUDGET.set(budget)
    parts: list[str] = []
    try:
        for chunk in compiled.generate(**context):
            budget.written += len(chunk)
            if budget.written > budget.max_output:
                raise TemplateLimitError(
                    f"the chat template wrote more than {budget.max_output:,} characters"
                )
            if time.monotonic() > budget.deadline:
                raise TemplateLimitError("the chat template took too long to render")
            parts.append(chunk)
    except RecursionError:
        raise TemplateLimitError("the chat template recursed too deeply") from None
    except MemoryError:
        raise TemplateLimitError("the chat template needed too much memory") from None
    finally:
        _BUDGET.reset(token)
    return "".join(parts)


_BUDGET_LIMITS: contextvars.ContextVar[TemplateLimits | None] = contextvars.ContextVar(
    "limits", default=None
)


def current_limits() -> TemplateLimits:
    """The limits set with `use_limits`, else the process settings (TRELLIS_TEMPLATE_*)."""
    limits = _BUDGET_LIMITS.get()
    if limits is None:
        from app.config import get_settings

        settings = get_settings()
        limits = TemplateLimits(
            timeout_s=settings.template_timeout_s,
            max_output_chars=settings.template_max_output_chars,
            memory_bytes=settings.template_memory_bytes,
        )
    return limits


def use_limits(limits: TemplateLimits) -> contextvars.Token[TemplateLimits | None]:
    """Make `limits` the ones used in this context (tests; a caller with its own settings)."""
    return _BUDGET_LIMITS.set(limits)


def _child(
    conn: Any, limits: TemplateLimits, fn: Callable[..., Any], args: tuple[Any, ...]
) -> None:
    use_limits(limits)
    # A limit the platform won't take is skipped; the deadline still holds.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    try:
        conn.send(("ok", fn(*args)))
    except MemoryError:
        conn.send(("error", "the chat template needed too much memory"))
    except Exception as exc:  # the parent re-raises it as a TemplateError
        conn.send(("error", str(exc)))
    finally:
        conn.close()


@functools.cache
def _context() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["app.exports.chat_templates"])
    return context


def isolated(fn: Callable[..., T], *args: Any, limits: TemplateLimits | None = None) -> T:
    """`fn(*args)` in a child process under the memory limit, killed at the deadline.

    Errors come back as `TemplateLimitError` with the child's message; `fn` and its result must
    be picklable."""
    limits = limits or current_limits()
    context = _context()
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(send, limits, fn, args))
    process.start()
    send.close()
    try:
        # Allow for starting the child; the template's own deadline applies inside it.
        if not receive.poll(limits.timeout_s + 5.0):
            raise TemplateLimitError(
                f"the chat template took longer than {limits.timeout_s:g} s to check"
            )
        try:
            status, value = receive.recv()
        except EOFError:
            raise TemplateLimitError(
                "the chat template check was stopped (out of memory or killed)"
            ) from None
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        receive.close()
    if status == "error":
        raise TemplateLimitError(str(value))
    result: T = value
    return result
