"""`/rerank` and `/score` in the shape Jina, Cohere and Docker Model Runner clients use: a query,
documents, `top_n`, `return_documents` -> results sorted by relevance."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelrunner.core.embedding import RankScores
from modelrunner.core.errors import InvalidRequest
from modelrunner.core.limits import TEXT_CHARS_MAX

MAX_DOCUMENTS = 1024


class RerankBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    query: str = Field(min_length=1, max_length=TEXT_CHARS_MAX)
    documents: list[Any] = Field(min_length=1)
    """Bounded in `document_texts`, with the count in the message."""
    top_n: int | None = Field(default=None, ge=1, strict=True)
    return_documents: bool = False


def document_texts(documents: list[Any], *, max_documents: int = MAX_DOCUMENTS) -> list[str]:
    """Documents as strings or `{"text": ...}` objects -> their texts."""
    if len(documents) > max_documents:
        raise InvalidRequest(f"documents: at most {max_documents} per request, got {len(documents)}",
                             param="documents")
    texts = []
    for n, document in enumerate(documents):
        text = document.get("text") if isinstance(document, dict) else document
        if not isinstance(text, str) or not text:
            raise InvalidRequest(f"documents[{n}]: expected a non-empty string or {{\"text\": ...}}",
                                 param="documents")
        if len(text) > TEXT_CHARS_MAX:
            raise InvalidRequest(f"documents[{n}]: at most {TEXT_CHARS_MAX} characters, got {len(text)}",
                                 param="documents")
        texts.append(text)
    return texts


def rerank_answer(scores: RankScores, texts: list[str], *, model: str, top_n: int | None,
                  return_documents: bool) -> dict[str, Any]:
    order = sorted(range(len(texts)), key=lambda index: scores.scores[index], reverse=True)[:top_n]
    results = []
    for index in order:
        result: dict[str, Any] = {"index": index, "relevance_score": scores.scores[index]}
        if return_documents:
            result["document"] = {"text": texts[index]}
        results.append(result)
    return {"model": model, "object": "list", "results": results,
            "usage": {"prompt_tokens": scores.prompt_tokens, "total_tokens": scores.prompt_tokens}}
