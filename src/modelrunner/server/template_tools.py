"""Whether a loaded model's chat template renders tools, learned once per runner by rendering a probe
conversation with and without a tool: templates that know nothing of tools ignore them silently."""

from __future__ import annotations

import weakref
from typing import Any

from modelrunner.core.chat import ChatRequest

_PROBE_TOOL_NAME = "modelrunner_probe_tool"
_PROBE_TOOLS = [{"type": "function", "function": {
    "name": _PROBE_TOOL_NAME, "description": "probe",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
}}]
_PROBE_MESSAGES = [{"role": "user", "content": "hello"}]


class TemplateToolSupport:
    """A per-runner cache; runners are weakly held so an unloaded model's answer goes with it."""

    def __init__(self) -> None:
        self._known: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()

    async def renders_tools(self, runner: Any) -> bool:
        known = self._known.get(runner)
        if known is not None:
            return known
        declared = getattr(runner, "renders_tools_natively", None)  # a remote upstream parses its own calls (#12)
        if declared is not None:
            return bool(declared)
        plain = await runner.render_prompt(ChatRequest(model="probe", messages=_PROBE_MESSAGES))
        with_tool = await runner.render_prompt(ChatRequest(model="probe", messages=_PROBE_MESSAGES,
                                                           tools=_PROBE_TOOLS, tool_choice="auto"))
        known = with_tool != plain and _PROBE_TOOL_NAME in with_tool
        self._known[runner] = known
        return known
