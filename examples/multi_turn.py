"""A multi-turn conversation: the client keeps the history and sends all of it every turn.

The runner's prompt cache recognises the shared prefix, so later turns start quickly
(see cache_read_input_tokens).
"""

import os

import anthropic

client = anthropic.Anthropic(base_url=os.environ.get("MODEL_RUNNER_URL", "http://localhost:12434"),
                             api_key="not-needed")
model = os.environ.get("MODEL", "ai/smollm2")
history: list[dict] = []

for question in ["My name is Ada and I like sailing.", "What is a good first boat?", "What was my name?"]:
    history.append({"role": "user", "content": question})
    message = client.messages.create(model=model, max_tokens=80, system="You are a friendly assistant.",
                                     messages=history)
    answer = "".join(block.text for block in message.content if block.type == "text")
    history.append({"role": "assistant", "content": answer})
    print(f"> {question}\n{answer}\n[cached prompt tokens: {message.usage.cache_read_input_tokens}]\n")
