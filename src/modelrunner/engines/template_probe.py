"""What a chat template does with tools, learned by rendering probe conversations: templates that know
nothing of tools ignore them silently, and some (Llama 3.x's) raise on two calls in one turn. Shared
by every engine that can render a prompt (llama.cpp workers, llama.cpp servers behind the remote engine)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from modelrunner.core.chat import ChatRequest
from modelrunner.core.errors import ModelRunnerError

Render = Callable[[ChatRequest], Awaitable[str]]

_PROBE_TOOL_NAME = "modelrunner_probe_tool"
_PROBE_TOOLS = [{"type": "function", "function": {
    "name": _PROBE_TOOL_NAME, "description": "probe",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
}}]
_PROBE_MESSAGES = [{"role": "user", "content": "hello"}]
# A turn of two calls followed by their results: ending on the assistant turn would make it a prefill,
# which llama.cpp refuses to hold tool calls whatever the template, and every family would be split.
_PROBE_CALLS = [*_PROBE_MESSAGES, {"role": "assistant", "content": "", "tool_calls": [
    {"id": f"call0000{n}", "type": "function", "function": {"name": _PROBE_TOOL_NAME, "arguments": "{}"}}
    for n in (1, 2)
]}, *({"role": "tool", "tool_call_id": f"call0000{n}", "content": "ok"} for n in (1, 2))]


async def renders_tools(render: Render) -> bool:
    """Render a probe conversation with and without a tool, and see whether the tool shows."""
    plain = await render(ChatRequest(model="probe", messages=_PROBE_MESSAGES))
    with_tool = await render(ChatRequest(model="probe", messages=_PROBE_MESSAGES, tools=_PROBE_TOOLS,
                                         tool_choice="auto"))
    return with_tool != plain and _PROBE_TOOL_NAME in with_tool


async def renders_parallel_calls(render: Render) -> bool:
    """Whether the template renders two calls in one assistant turn: Llama 3.x's raises instead."""
    try:
        await render(ChatRequest(model="probe", messages=_PROBE_CALLS, tools=_PROBE_TOOLS, tool_choice="auto"))
    except ModelRunnerError:
        return False
    return True
