"""Print the answer as it is generated, then the final message's stop reason and usage."""

import os

import anthropic

client = anthropic.Anthropic(base_url=os.environ.get("MODEL_RUNNER_URL", "http://localhost:12434"),
                             api_key="not-needed")

with client.messages.stream(
    model=os.environ.get("MODEL", "ai/smollm2"),
    max_tokens=100,
    messages=[{"role": "user", "content": "Tell me a short story about a lighthouse."}],
) as stream:
    for text in stream.text_stream:
        print(text, end="", flush=True)
    final = stream.get_final_message()
print(f"\n[{final.stop_reason}, {final.usage.output_tokens} tokens]")
