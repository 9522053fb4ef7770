"""Send one message and print the answer.

    MODEL_RUNNER_URL=http://localhost:12434 python examples/single_message.py "Why is the sky blue?"
"""

import os
import sys

import anthropic

client = anthropic.Anthropic(
    base_url=os.environ.get("MODEL_RUNNER_URL", "http://localhost:12434"),
    api_key="not-needed",  # the local runner accepts any key unless MODEL_RUNNER_API_KEY is set
)
question = " ".join(sys.argv[1:]) or "Write a haiku about the sea."

message = client.messages.create(
    model=os.environ.get("MODEL", "ai/smollm2"),
    max_tokens=100,
    messages=[{"role": "user", "content": question}],
)
print(message.content[0].text)
print(f"[{message.stop_reason}, {message.usage.input_tokens} tokens in, {message.usage.output_tokens} out]")
