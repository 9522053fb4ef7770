"""Tiny random GGUFs that stand in for the model families users pull.

Each fixture carries one family's special tokens and a chat template written here (not copied) that
renders that family's prompt format: its turn markers, where tools are described, how an assistant's
tool calls and reasoning are written and how tool results come back. llama.cpp picks its chat format
and tool-call parser from the template (a dedicated handler for a few, its differential "autoparser"
for the rest, see common/chat.cpp), so a template that renders the family's format makes it parse the
same syntax it would parse for the real model. The weights are random (see `tiny_model`): a grammar
is what makes such a model write a call.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass, field

from tests.support.tiny_model import write_tiny_llama_gguf

# Shared Jinja: message content as a string or a list of text parts.
_CONTENT = """\
{%- macro text(content) -%}
{%- if content is string -%}{{- content -}}
{%- elif content is iterable and content is not mapping -%}
{%- for part in content -%}{%- if part is string -%}{{- part -}}{%- elif part.type == 'text' -%}{{- part.text -}}{%- endif -%}{%- endfor -%}
{%- endif -%}
{%- endmacro -%}
{%- macro args(call) -%}
{%- if call.arguments is string -%}{{- call.arguments -}}{%- else -%}{{- call.arguments | tojson -}}{%- endif -%}
{%- endmacro -%}
"""

# Qwen3: ChatML; tools listed in the system turn between <tools> tags; each call a JSON object with
# "name" and "arguments" between <tool_call> lines; results as <tool_response> in a user turn;
# reasoning between <think> tags, and `enable_thinking=false` closes an empty think block up front.
QWEN3_TEMPLATE = _CONTENT + """\
{%- if tools -%}
{{- '<|im_start|>system\\n' -}}
{%- if messages[0].role == 'system' -%}{{- text(messages[0].content) + '\\n\\n' -}}{%- endif -%}
{{- '# Tools\\n\\nFunctions you can call, one JSON signature a line:\\n<tools>' -}}
{%- for tool in tools -%}{{- '\\n' + (tool | tojson) -}}{%- endfor -%}
{{- '\\n</tools>\\n\\nWrite each call as a JSON object with the function name and its arguments inside <tool_call></tool_call> tags:\\n<tool_call>\\n{"name": <function-name>, "arguments": <args-json-object>}\\n</tool_call><|im_end|>\\n' -}}
{%- elif messages[0].role == 'system' -%}
{{- '<|im_start|>system\\n' + text(messages[0].content) + '<|im_end|>\\n' -}}
{%- endif -%}
{%- for message in messages -%}
{%- if message.role == 'user' or (message.role == 'system' and not loop.first) -%}
{{- '<|im_start|>' + message.role + '\\n' + text(message.content) + '<|im_end|>\\n' -}}
{%- elif message.role == 'assistant' -%}
{{- '<|im_start|>assistant\\n' -}}
{%- if message.reasoning_content is string and message.reasoning_content -%}
{{- '<think>\\n' + message.reasoning_content.strip() + '\\n</think>\\n\\n' -}}
{%- endif -%}
{{- text(message.content) -}}
{%- if message.tool_calls -%}
{%- for tool_call in message.tool_calls -%}
{%- set call = tool_call.function if tool_call.function is defined else tool_call -%}
{%- if loop.first and not text(message.content) -%}{{- '<tool_call>\\n' -}}{%- else -%}{{- '\\n<tool_call>\\n' -}}{%- endif -%}
{{- '{"name": "' + call.name + '", "arguments": ' + args(call) + '}\\n</tool_call>' -}}
{%- endfor -%}
{%- endif -%}
{{- '<|im_end|>\\n' -}}
{%- elif message.role == 'tool' -%}
{%- if loop.first or messages[loop.index0 - 1].role != 'tool' -%}{{- '<|im_start|>user' -}}{%- endif -%}
{{- '\\n<tool_response>\\n' + text(message.content) + '\\n</tool_response>' -}}
{%- if loop.last or messages[loop.index0 + 1].role != 'tool' -%}{{- '<|im_end|>\\n' -}}{%- endif -%}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{- '<|im_start|>assistant\\n' -}}
{%- if enable_thinking is defined and enable_thinking is false -%}{{- '<think>\\n\\n</think>\\n\\n' -}}{%- endif -%}
{%- endif -%}
"""

# Llama 3.1/3.2: header-delimited turns ended by <|eot_id|>; tools described in the first user turn;
# a call is the whole assistant turn, one JSON object with "name" and "parameters" (one call per turn:
# the real template raises otherwise); built-in tools are called after <|python_tag|>; results come
# back in an "ipython" turn.
LLAMA3_TEMPLATE = _CONTENT + """\
{{- bos_token -}}
{%- if messages[0].role == 'system' -%}
{%- set system_text = text(messages[0].content) -%}{%- set loop_messages = messages[1:] -%}
{%- else -%}
{%- set system_text = '' -%}{%- set loop_messages = messages -%}
{%- endif -%}
{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' -}}
{%- if builtin_tools is defined or tools -%}{{- 'Environment: ipython\\n' -}}{%- endif -%}
{{- 'Cutting Knowledge Date: December 2023\\n\\n' + system_text + '<|eot_id|>' -}}
{%- set ns = namespace(tools_shown=false) -%}
{%- for message in loop_messages -%}
{%- if message.role == 'user' and tools and not ns.tools_shown -%}
{%- set ns.tools_shown = true -%}
{{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}
{{- 'Answer with a JSON function call when a function helps, as {"name": function name, "parameters": dictionary of arguments}.\\n\\n' -}}
{%- for tool in tools -%}{{- (tool | tojson) + '\\n\\n' -}}{%- endfor -%}
{{- text(message.content) + '<|eot_id|>' -}}
{%- elif message.role == 'assistant' and message.tool_calls -%}
{%- if message.tool_calls | length != 1 -%}{{- raise_exception('This model only supports single tool-calls at once!') -}}{%- endif -%}
{%- set call = message.tool_calls[0].function if message.tool_calls[0].function is defined else message.tool_calls[0] -%}
{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
{%- if builtin_tools is defined and call.name in builtin_tools -%}
{{- '<|python_tag|>' + call.name + '.call(' + args(call) + ')<|eom_id|>' -}}
{%- else -%}
{{- '{"name": "' + call.name + '", "parameters": ' + args(call) + '}<|eot_id|>' -}}
{%- endif -%}
{%- elif message.role == 'tool' or message.role == 'ipython' -%}
{{- '<|start_header_id|>ipython<|end_header_id|>\\n\\n' + text(message.content) + '<|eot_id|>' -}}
{%- else -%}
{{- '<|start_header_id|>' + message.role + '<|end_header_id|>\\n\\n' + text(message.content) | trim + '<|eot_id|>' -}}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}
"""

# Mistral (7B Instruct v0.3 style): [INST] turns; tools in [AVAILABLE_TOOLS] before the last user
# turn; calls as a JSON list after [TOOL_CALLS], each with an "id" that must be 9 alphanumerics (the
# real template raises otherwise); results in [TOOL_RESULTS] naming that "call_id".
MISTRAL_TEMPLATE = _CONTENT + """\
{%- if messages[0].role == 'system' -%}
{%- set system_text = text(messages[0].content) -%}{%- set loop_messages = messages[1:] -%}
{%- else -%}
{%- set system_text = '' -%}{%- set loop_messages = messages -%}
{%- endif -%}
{%- set ns = namespace(last_user=-1) -%}
{%- for message in loop_messages -%}{%- if message.role == 'user' -%}{%- set ns.last_user = loop.index0 -%}{%- endif -%}{%- endfor -%}
{{- bos_token -}}
{%- for message in loop_messages -%}
{%- if message.role == 'user' -%}
{%- if tools and loop.index0 == ns.last_user -%}
{{- '[AVAILABLE_TOOLS][' -}}
{%- for tool in tools -%}{{- tool | tojson -}}{%- if not loop.last -%}{{- ', ' -}}{%- endif -%}{%- endfor -%}
{{- '][/AVAILABLE_TOOLS]' -}}
{%- endif -%}
{%- if system_text and loop.index0 == ns.last_user -%}
{{- '[INST] ' + system_text + '\\n\\n' + text(message.content) + '[/INST]' -}}
{%- else -%}
{{- '[INST] ' + text(message.content) + '[/INST]' -}}
{%- endif -%}
{%- elif message.role == 'assistant' and message.tool_calls -%}
{{- '[TOOL_CALLS][' -}}
{%- for tool_call in message.tool_calls -%}
{%- set call = tool_call.function if tool_call.function is defined else tool_call -%}
{%- if tool_call.id is not defined or tool_call.id is not string or tool_call.id | length != 9 -%}
{{- raise_exception('Tool call IDs should be alphanumeric strings with length 9!') -}}
{%- endif -%}
{{- '{"name": "' + call.name + '", "arguments": ' + args(call) + ', "id": "' + tool_call.id + '"}' -}}
{%- if not loop.last -%}{{- ', ' -}}{%- endif -%}
{%- endfor -%}
{{- ']' + eos_token -}}
{%- elif message.role == 'assistant' -%}
{{- ' ' + text(message.content) + eos_token -}}
{%- elif message.role == 'tool' -%}
{%- if message.tool_call_id is not defined or message.tool_call_id | length != 9 -%}
{{- raise_exception('Tool call IDs should be alphanumeric strings with length 9!') -}}
{%- endif -%}
{{- '[TOOL_RESULTS]{"content": ' + (text(message.content) | tojson) + ', "call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' -}}
{%- endif -%}
{%- endfor -%}
"""

# Gemma 3: user/model turns only (a system prompt joins the first user turn, roles must alternate),
# and no tools at all.
GEMMA3_TEMPLATE = _CONTENT + """\
{{- bos_token -}}
{%- if messages[0].role == 'system' -%}
{%- set first_prefix = text(messages[0].content) + '\\n\\n' -%}{%- set loop_messages = messages[1:] -%}
{%- else -%}
{%- set first_prefix = '' -%}{%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
{%- if (message.role == 'user') != (loop.index0 % 2 == 0) -%}
{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') -}}
{%- endif -%}
{%- set role = 'model' if message.role == 'assistant' else message.role -%}
{{- '<start_of_turn>' + role + '\\n' + (first_prefix if loop.first else '') + text(message.content) | trim + '<end_of_turn>\\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}
"""

# gpt-oss (harmony): <|start|>role<|message|>...<|end|> messages; the assistant writes on channels,
# "analysis" for reasoning, "final" for the answer and "commentary" addressed `to=functions.NAME` for a
# call ending in <|call|>; a result comes from `functions.NAME to=assistant`. Tools are a TypeScript-like
# namespace in the developer message.
GPT_OSS_TEMPLATE = _CONTENT + """\
{{- '<|start|>system<|message|>You are a helpful assistant.\\nReasoning: ' + (reasoning_effort if reasoning_effort is defined else 'medium') + '\\n\\n# Valid channels: analysis, commentary, final. Channel must be included for every message.' -}}
{%- if tools -%}{{- '\\nCalls to these tools must go to the commentary channel: \\'functions\\'.' -}}{%- endif -%}
{{- '<|end|>' -}}
{%- if messages[0].role in ('system', 'developer') -%}
{%- set instructions = text(messages[0].content) -%}{%- set loop_messages = messages[1:] -%}
{%- else -%}
{%- set instructions = '' -%}{%- set loop_messages = messages -%}
{%- endif -%}
{%- if instructions or tools -%}
{{- '<|start|>developer<|message|>' -}}
{%- if instructions -%}{{- '# Instructions\\n\\n' + instructions -}}{%- endif -%}
{%- if tools -%}
{{- '\\n\\n# Tools\\n\\n## functions\\n\\nnamespace functions {\\n' -}}
{%- for tool in tools -%}
{%- set fn = tool.function if tool.function is defined else tool -%}
{{- '\\n// ' + fn.description + '\\ntype ' + fn.name + ' = (_: ' + (fn.parameters | tojson) + ') => any;\\n' -}}
{%- endfor -%}
{{- '\\n} // namespace functions' -}}
{%- endif -%}
{{- '<|end|>' -}}
{%- endif -%}
{%- set ns = namespace(last_call='') -%}
{%- for message in loop_messages -%}
{%- if message.role == 'assistant' -%}
{%- if message.reasoning_content is string and message.reasoning_content -%}
{{- '<|start|>assistant<|channel|>analysis<|message|>' + message.reasoning_content + '<|end|>' -}}
{%- endif -%}
{%- if message.tool_calls -%}
{%- for tool_call in message.tool_calls -%}
{%- set call = tool_call.function if tool_call.function is defined else tool_call -%}
{%- set ns.last_call = call.name -%}
{{- '<|start|>assistant<|channel|>commentary to=functions.' + call.name + ' <|constrain|>json<|message|>' + args(call) + '<|call|>' -}}
{%- endfor -%}
{%- elif loop.last and not add_generation_prompt -%}
{{- '<|start|>assistant<|channel|>final<|message|>' + text(message.content) + '<|return|>' -}}
{%- else -%}
{{- '<|start|>assistant<|channel|>final<|message|>' + text(message.content) + '<|end|>' -}}
{%- endif -%}
{%- elif message.role == 'tool' -%}
{{- '<|start|>functions.' + ns.last_call + ' to=assistant<|channel|>commentary<|message|>' + text(message.content) + '<|end|>' -}}
{%- else -%}
{{- '<|start|>' + message.role + '<|message|>' + text(message.content) + '<|end|>' -}}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|start|>assistant' -}}{%- endif -%}
"""

# DeepSeek-R1 distills: <｜User｜>/<｜Assistant｜> markers after the system text; the generation
# prompt opens <think> itself, and earlier answers keep only what follows </think>; calls between
# <｜tool▁calls▁begin｜> markers, each "function<｜tool▁sep｜>NAME" then its arguments in a json fence.
DEEPSEEK_R1_TEMPLATE = _CONTENT + """\
{{- bos_token -}}
{%- set ns = namespace(system='', in_tool=false) -%}
{%- for message in messages -%}{%- if message.role == 'system' -%}{%- set ns.system = ns.system + text(message.content) -%}{%- endif -%}{%- endfor -%}
{{- ns.system -}}
{%- if tools -%}
{{- '\\n\\nYou can call these functions:\\n' -}}
{%- for tool in tools -%}{{- (tool | tojson) + '\\n' -}}{%- endfor -%}
{%- endif -%}
{%- for message in messages -%}
{%- if message.role == 'user' -%}
{%- if ns.in_tool -%}{{- '<｜tool▁outputs▁end｜>' -}}{%- set ns.in_tool = false -%}{%- endif -%}
{{- '<｜User｜>' + text(message.content) -}}
{%- elif message.role == 'assistant' -%}
{%- if ns.in_tool -%}{{- '<｜tool▁outputs▁end｜>' -}}{%- set ns.in_tool = false -%}{%- endif -%}
{%- set content = text(message.content) -%}
{%- if '</think>' in content -%}{%- set content = content.split('</think>')[-1] -%}{%- endif -%}
{{- '<｜Assistant｜>' + content -}}
{%- if message.tool_calls -%}
{{- '<｜tool▁calls▁begin｜>' -}}
{%- for tool_call in message.tool_calls -%}
{%- set call = tool_call.function if tool_call.function is defined else tool_call -%}
{{- '<｜tool▁call▁begin｜>function<｜tool▁sep｜>' + call.name + '\\n```json\\n' + args(call) + '\\n```<｜tool▁call▁end｜>' -}}
{%- endfor -%}
{{- '<｜tool▁calls▁end｜>' -}}
{%- endif -%}
{{- '<｜end▁of▁sentence｜>' -}}
{%- elif message.role == 'tool' -%}
{%- if not ns.in_tool -%}{{- '<｜tool▁outputs▁begin｜>' -}}{%- set ns.in_tool = true -%}{%- endif -%}
{{- '<｜tool▁output▁begin｜>' + text(message.content) + '<｜tool▁output▁end｜>' -}}
{%- endif -%}
{%- endfor -%}
{%- if ns.in_tool -%}{{- '<｜tool▁outputs▁end｜>' -}}{%- endif -%}
{%- if add_generation_prompt -%}{{- '<｜Assistant｜><think>\\n' -}}{%- endif -%}
"""

# Phi-4-mini: <|system|>/<|user|>/<|assistant|> turns ended by <|end|>; tools as a JSON list between
# <|tool|> and <|/tool|> in the system turn; calls as a JSON list between <|tool_call|> and
# <|/tool_call|>; results in a <|tool_response|> turn.
PHI4_MINI_TEMPLATE = _CONTENT + """\
{%- set ns = namespace(system='') -%}
{%- if messages[0].role == 'system' -%}{%- set ns.system = text(messages[0].content) -%}{%- endif -%}
{%- if ns.system or tools -%}
{{- '<|system|>' + ns.system -}}
{%- if tools -%}{{- '<|tool|>' + (tools | tojson) + '<|/tool|>' -}}{%- endif -%}
{{- '<|end|>' -}}
{%- endif -%}
{%- for message in messages -%}
{%- if message.role == 'user' -%}
{{- '<|user|>' + text(message.content) + '<|end|>' -}}
{%- elif message.role == 'assistant' -%}
{{- '<|assistant|>' + text(message.content) -}}
{%- if message.tool_calls -%}
{{- '<|tool_call|>[' -}}
{%- for tool_call in message.tool_calls -%}
{%- set call = tool_call.function if tool_call.function is defined else tool_call -%}
{{- '{"name": "' + call.name + '", "arguments": ' + args(call) + '}' -}}{%- if not loop.last -%}{{- ', ' -}}{%- endif -%}
{%- endfor -%}
{{- ']<|/tool_call|>' -}}
{%- endif -%}
{{- '<|end|>' -}}
{%- elif message.role == 'tool' -%}
{{- '<|tool_response|>' + text(message.content) + '<|end|>' -}}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|assistant|>' -}}{%- endif -%}
"""

# SmolLM3: ChatML with a metadata system turn that names the reasoning mode (/think or /no_think,
# from `enable_thinking`, default on); tools as XML-tagged JSON; calls in <tool_call> tags; with
# thinking off the generation prompt closes an empty think block.
SMOLLM3_TEMPLATE = _CONTENT + """\
{%- set thinking = not (enable_thinking is defined and enable_thinking is false) -%}
{{- '<|im_start|>system\\n## Metadata\\n\\nReasoning Mode: ' + ('/think' if thinking else '/no_think') + '\\n\\n## Custom Instructions\\n\\n' -}}
{%- if messages[0].role == 'system' -%}{{- text(messages[0].content) -}}{%- endif -%}
{%- if tools -%}
{{- '\\n\\n### Tools\\n\\nYou may call one or more of these functions:\\n\\n<tools>\\n' -}}
{%- for tool in tools -%}{{- (tool | tojson) + '\\n' -}}{%- endfor -%}
{{- '</tools>\\n\\nFor each call, write a JSON object with the function name and its arguments inside <tool_call></tool_call> tags:\\n<tool_call>\\n{"name": <function-name>, "arguments": <args-json-object>}\\n</tool_call>' -}}
{%- endif -%}
{{- '<|im_end|>\\n' -}}
{%- for message in messages -%}
{%- if message.role == 'user' -%}
{{- '<|im_start|>user\\n' + text(message.content) + '<|im_end|>\\n' -}}
{%- elif message.role == 'assistant' -%}
{{- '<|im_start|>assistant\\n' -}}
{%- if message.reasoning_content is string and message.reasoning_content -%}
{{- '<think>\\n' + message.reasoning_content.strip() + '\\n</think>\\n' -}}
{%- endif -%}
{{- text(message.content) -}}
{%- for tool_call in message.tool_calls or [] -%}
{%- set call = tool_call.function if tool_call.function is defined else tool_call -%}
{{- '<tool_call>\\n{"name": "' + call.name + '", "arguments": ' + args(call) + '}\\n</tool_call>' -}}
{%- endfor -%}
{{- '<|im_end|>\\n' -}}
{%- elif message.role == 'tool' -%}
{{- '<|im_start|>user\\n<tool_response>\\n' + text(message.content) + '\\n</tool_response><|im_end|>\\n' -}}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{- '<|im_start|>assistant\\n' -}}
{%- if not thinking -%}{{- '<think>\\n\\n</think>\\n' -}}{%- endif -%}
{%- endif -%}
"""


@dataclass(frozen=True)
class Family:
    """One model family's fixture: what goes into the GGUF and what llama.cpp should make of it.

    `native_tools`: the template renders tools, so calls go through llama.cpp's parser.
    `reasons`: the family writes reasoning (thinking blocks come back).
    `tool_id_length`: a template that checks call ids wants them exactly this long.
    `thinking_switch`: the template reads `enable_thinking`. `opens_thinking`: its generation prompt
    opens the think block itself, so even random weights reason first.
    `writes_harmony`: llama.cpp's parser only accepts harmony channels, which random weights never write."""

    name: str
    chat_template: str
    special_tokens: tuple[str, ...]
    bos_token: str
    eos_token: str
    eot_token: str | None = None
    user_defined: frozenset[str] = field(default_factory=frozenset)
    native_tools: bool = True
    reasons: bool = False
    parallel_calls: bool = True
    tool_id_length: int | None = None
    thinking_switch: bool = False
    opens_thinking: bool = False
    writes_harmony: bool = False


FAMILIES: tuple[Family, ...] = (
    Family("qwen3", QWEN3_TEMPLATE,
           ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>", "<think>", "</think>",
            "<tool_response>", "</tool_response>"),
           bos_token="<|endoftext|>", eos_token="<|im_end|>",
           user_defined=frozenset({"<tool_call>", "</tool_call>", "<think>", "</think>", "<tool_response>",
                                   "</tool_response>"}),
           reasons=True, thinking_switch=True),
    Family("llama3", LLAMA3_TEMPLATE,
           ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
            "<|eom_id|>", "<|python_tag|>"),
           bos_token="<|begin_of_text|>", eos_token="<|eot_id|>", parallel_calls=False),
    Family("mistral", MISTRAL_TEMPLATE,
           ("<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[TOOL_CALLS]", "[AVAILABLE_TOOLS]", "[/AVAILABLE_TOOLS]",
            "[TOOL_RESULTS]", "[/TOOL_RESULTS]"),
           bos_token="<s>", eos_token="</s>", tool_id_length=9),
    Family("gemma3", GEMMA3_TEMPLATE, ("<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"),
           bos_token="<bos>", eos_token="<eos>", eot_token="<end_of_turn>", native_tools=False),
    Family("gpt-oss", GPT_OSS_TEMPLATE,
           ("<|endoftext|>", "<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>", "<|return|>",
            "<|call|>"),
           bos_token="<|endoftext|>", eos_token="<|return|>", reasons=True, writes_harmony=True),
    Family("deepseek-r1-distill", DEEPSEEK_R1_TEMPLATE,
           ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<think>", "</think>",
            "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>",
            "<｜tool▁sep｜>", "<｜tool▁outputs▁begin｜>", "<｜tool▁outputs▁end｜>", "<｜tool▁output▁begin｜>",
            "<｜tool▁output▁end｜>"),
           bos_token="<｜begin▁of▁sentence｜>", eos_token="<｜end▁of▁sentence｜>",
           user_defined=frozenset({"<think>", "</think>"}), reasons=True, opens_thinking=True),
    Family("phi4-mini", PHI4_MINI_TEMPLATE,
           ("<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|tool|>", "<|/tool|>",
            "<|tool_call|>", "<|/tool_call|>", "<|tool_response|>"),
           bos_token="<|endoftext|>", eos_token="<|endoftext|>", eot_token="<|end|>"),
    Family("smollm3", SMOLLM3_TEMPLATE,
           ("<|end_of_text|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>", "</tool_call>"),
           bos_token="<|end_of_text|>", eos_token="<|im_end|>",
           user_defined=frozenset({"<think>", "</think>", "<tool_call>", "</tool_call>"}), reasons=True,
           thinking_switch=True),
)

FAMILY_BY_NAME = {family.name: family for family in FAMILIES}


def write_family_gguf(path: pathlib.Path, family: Family, *, context_length: int = 4096) -> pathlib.Path:
    """Write `family`'s tiny random model to `path` (milliseconds) and return `path`."""
    return write_tiny_llama_gguf(
        path, context_length=context_length, special_tokens=family.special_tokens,
        user_defined=family.user_defined, chat_template=family.chat_template, bos_token=family.bos_token,
        eos_token=family.eos_token, eot_token=family.eot_token, name=f"tiny-{family.name}",
    )
