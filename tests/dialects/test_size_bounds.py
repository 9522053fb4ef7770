"""Every size an embeddings, rerank or Responses body carries is bounded, with the field and the limit
named in the 400: texts, token-id lists and item counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from modelrunner.core.errors import InvalidRequest
from modelrunner.core.limits import TEXT_CHARS_MAX, TOKEN_IDS_MAX
from modelrunner.dialects.ollama.embeddings import embed_inputs, prompt_input
from modelrunner.dialects.openai.embeddings import MAX_INPUTS, embedding_inputs
from modelrunner.dialects.openai.rerank import MAX_DOCUMENTS, document_texts
from modelrunner.dialects.responses.protocol import MAX_INPUT_ITEMS, ResponsesBody
from modelrunner.dialects.responses.translate import input_items

LONG_TEXT = "x" * (TEXT_CHARS_MAX + 1)


def _responses_input(value: Any) -> list[dict[str, Any]]:
    return input_items(ResponsesBody(model="m", input=value))


@pytest.mark.parametrize(("check", "value", "fragment"), [
    (embedding_inputs, LONG_TEXT, f"at most {TEXT_CHARS_MAX} characters"),
    (embedding_inputs, ["ok", LONG_TEXT], "input[1]"),
    (embedding_inputs, [1] * (TOKEN_IDS_MAX + 1), f"at most {TOKEN_IDS_MAX} token ids"),
    (embedding_inputs, ["x"] * (MAX_INPUTS + 1), f"at most {MAX_INPUTS} inputs"),
    (embed_inputs, [LONG_TEXT], f"at most {TEXT_CHARS_MAX} characters"),
    (prompt_input, LONG_TEXT, f"at most {TEXT_CHARS_MAX} characters"),
    (document_texts, ["ok", {"text": LONG_TEXT}], "documents[1]"),
    (document_texts, ["x"] * (MAX_DOCUMENTS + 1), f"at most {MAX_DOCUMENTS}"),
    (_responses_input, LONG_TEXT, f"at most {TEXT_CHARS_MAX} characters"),
    (_responses_input, [{"role": "user", "content": "x"}] * (MAX_INPUT_ITEMS + 1), f"at most {MAX_INPUT_ITEMS} items"),
])
def test_oversized_inputs_are_refused_naming_the_limit(check: Callable[[Any], Any], value: Any, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        check(value)
    assert fragment in refused.value.message


def test_a_responses_text_longer_than_an_old_item_bound_is_accepted() -> None:
    [item] = _responses_input("y" * (MAX_INPUT_ITEMS * 2))
    assert item["content"][0]["text"] == "y" * (MAX_INPUT_ITEMS * 2)
