"""The same application code against the local runner in development and Claude in production.

    python examples/dev_prod_switch.py                      # local runner, free, offline
    APP_ENV=production ANTHROPIC_API_KEY=sk-... python examples/dev_prod_switch.py   # Claude
"""

import os

import anthropic


def make_client() -> tuple[anthropic.Anthropic, str]:
    """The only place that knows where requests go."""
    if os.environ.get("APP_ENV") == "production":
        return anthropic.Anthropic(), "claude-sonnet-4-6"  # reads ANTHROPIC_API_KEY
    local = anthropic.Anthropic(base_url=os.environ.get("MODEL_RUNNER_URL", "http://localhost:12434"),
                                api_key="not-needed")
    return local, os.environ.get("MODEL", "ai/smollm2")


def summarise(client: anthropic.Anthropic, model: str, text: str) -> str:
    """Application code: identical in both environments."""
    message = client.messages.create(
        model=model,
        max_tokens=100,
        system="Summarise the user's text in one sentence.",
        messages=[{"role": "user", "content": text}],
    )
    return message.content[0].text


if __name__ == "__main__":
    client, model = make_client()
    print(f"using {model}")
    print(summarise(client, model, "The quarterly report shows revenue up 12%, costs flat, and two new "
                                   "offices opening in spring. Hiring will focus on support staff."))
