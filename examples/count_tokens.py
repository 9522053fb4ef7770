"""Count a request's tokens before sending it, and trim the conversation when it would not fit.

count_tokens renders exactly what generation renders (system prompt, tools, messages) with the
model's own tokenizer, so the number is the one generation will report.
"""

import os

import anthropic

client = anthropic.Anthropic(base_url=os.environ.get("MODEL_RUNNER_URL", "http://localhost:12434"),
                             api_key="not-needed")
model = os.environ.get("MODEL", "ai/smollm2")
budget_tokens = 1500
system = "You are a concise assistant."
history = [{"role": "user", "content": f"Note {n}: the meeting moved to room {n}."} if n % 2 == 0
           else {"role": "assistant", "content": "Noted."} for n in range(40)]
history.append({"role": "user", "content": "Which room is the meeting in now?"})

counted = client.messages.count_tokens(model=model, system=system, messages=history).input_tokens
while counted > budget_tokens and len(history) > 1:
    history = history[2:]  # drop the oldest exchange
    counted = client.messages.count_tokens(model=model, system=system, messages=history).input_tokens
print(f"sending {len(history)} messages, {counted} input tokens")

message = client.messages.create(model=model, max_tokens=60, system=system, messages=history)
used = message.usage.input_tokens + message.usage.cache_read_input_tokens
print(message.content[0].text)
print(f"generation reported {used} input tokens (counted {counted})")
