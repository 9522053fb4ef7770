"""A small code-review agent: a reviewer persona in the system prompt, and a `submit_review` tool the
model must call, so the review arrives as structured data the program can act on.

    python examples/code_review_agent.py path/to/file.py     # or no argument for a built-in sample
"""

import json
import os
import sys

import anthropic

SYSTEM = (
    "You are a senior Python reviewer. Read the code and report the most important problems: bugs first, "
    "then security, then readability. Be specific and brief."
)
SAMPLE = '''def average(numbers):
    total = 0
    for n in numbers:
        total += n
    return total / len(numbers)

def read_config(path):
    return eval(open(path).read())
'''
SUBMIT_REVIEW = {
    "name": "submit_review",
    "description": "Submit the review of the code.",
    "input_schema": {
        "type": "object",
        "properties": {
            "summary": {"type": "string", "maxLength": 200, "description": "One sentence on the code's overall state."},
            "issues": {
                "type": "array",
                "maxItems": 5,
                "items": {
                    "type": "object",
                    "properties": {
                        "severity": {"type": "string", "enum": ["bug", "security", "style"]},
                        "comment": {"type": "string", "maxLength": 200},
                    },
                    "required": ["severity", "comment"],
                },
            },
        },
        "required": ["summary", "issues"],
    },
}

client = anthropic.Anthropic(base_url=os.environ.get("MODEL_RUNNER_URL", "http://localhost:12434"),
                             api_key="not-needed")
code = open(sys.argv[1]).read() if len(sys.argv) > 1 else SAMPLE

message = client.messages.create(
    model=os.environ.get("MODEL", "ai/smollm2"),
    max_tokens=1500,  # room for the longest review the schema allows (5 issues, bounded strings)
    system=SYSTEM,
    tools=[SUBMIT_REVIEW],
    tool_choice={"type": "tool", "name": "submit_review"},  # the answer is always a review
    messages=[{"role": "user", "content": f"Review this code:\n\n```python\n{code}\n```"}],
)
review = next(block.input for block in message.content if block.type == "tool_use")
print(json.dumps(review, indent=2))
