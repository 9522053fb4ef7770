"""The prompt token counter's bookkeeping: which parts of a prompt it sends to the tokenizer, and that it
stops splitting when the tokenizer is not additive at special tokens. The tokenizer here is a stand-in
that records its calls (llama.cpp's own agreement is tested through the server in
tests/server/test_anthropic_sdk.py); everything else is the real counter."""

from __future__ import annotations

import asyncio
import re

from modelrunner.engines.llamacpp.prompt_tokens import (
    CHECKED_SPLITS,
    PromptTokenCounter,
    boundary_pattern,
    segment_prefix_keys,
)

SPECIAL = ("<|im_start|>", "<|im_end|>", "<|im")
WORD_OR_SPECIAL = re.compile(r"<\|im_start\|>|<\|im_end\|>|\S+")


def chatml(*turns: tuple[str, str]) -> str:
    return "".join(f"<|im_start|>{role}\n{text}<|im_end|>\n" for role, text in turns) + "<|im_start|>assistant\n"


class RecordingTokenizer:
    """Counts special tokens and words (additive at special tokens, as llama.cpp is), plus a BOS."""

    def __init__(self, *, additive: bool = True) -> None:
        self.calls: list[tuple[str, bool]] = []
        self._additive = additive

    async def __call__(self, text: str, *, add_special: bool) -> int:
        self.calls.append((text, add_special))
        count = len(WORD_OR_SPECIAL.findall(text)) + (1 if add_special else 0)
        return count if self._additive else count + len(text) % 3


def counter_over(tokenizer: RecordingTokenizer) -> PromptTokenCounter:
    async def special_tokens() -> list[str]:
        return list(SPECIAL)

    return PromptTokenCounter(tokenizer, special_tokens)


def test_boundaries_match_the_longest_special_token_first() -> None:
    pattern = boundary_pattern(SPECIAL)
    assert pattern is not None
    assert pattern.findall("a<|im_start|>b<|im") == ["<|im_start|>", "<|im"]
    assert boundary_pattern([]) is None


def test_prefix_keys_sit_before_each_special_token_and_at_the_end() -> None:
    pattern = boundary_pattern(SPECIAL)
    assert pattern is not None
    prompt = chatml(("user", "hi"))
    offsets = [offset for offset, _ in segment_prefix_keys(prompt, pattern)]
    assert offsets == [prompt.index("<|im_end|>"), prompt.index("<|im_start|>assistant"), len(prompt)]
    longer = chatml(("user", "hi"), ("assistant", "hello"), ("user", "more"))
    shared = dict(segment_prefix_keys(prompt, pattern))
    assert shared[prompt.index("<|im_start|>assistant")] == dict(segment_prefix_keys(longer, pattern))[
        prompt.index("<|im_start|>assistant")]


def test_a_growing_conversation_tokenises_only_its_new_turns() -> None:
    tokenizer = RecordingTokenizer()
    counter = counter_over(tokenizer)
    turns = [("system", "be brief"), ("user", "tell me about harbours and their boats")]
    counts, calls_per_step = [], []
    for step in range(6):
        prompt = chatml(*turns)
        calls_before = len(tokenizer.calls)
        counts.append(asyncio.run(counter.count(prompt)))
        calls_per_step.append(len(tokenizer.calls) - calls_before)
        assert counts[-1] == asyncio.run(RecordingTokenizer()(prompt, add_special=True))
        turns += [("assistant", f"answer number {step}"), ("user", f"question number {step}")]
    assert calls_per_step[-2:] == [1, 1]  # the new turns only: the generation prompt's count is remembered
    [(late_text, add_special)] = tokenizer.calls[-1:]
    assert "harbours" not in late_text and not add_special and late_text.startswith("<|im_start|>assistant\nanswer")


def test_the_same_prompt_again_needs_no_tokenizer_call() -> None:
    tokenizer = RecordingTokenizer()
    counter = counter_over(tokenizer)
    prompt = chatml(("user", "hello there"))
    first = asyncio.run(counter.count(prompt))
    calls = len(tokenizer.calls)
    assert asyncio.run(counter.count(prompt)) == first and len(tokenizer.calls) == calls


def test_a_tokenizer_that_is_not_additive_turns_splitting_off() -> None:
    tokenizer = RecordingTokenizer(additive=False)
    counter = counter_over(tokenizer)
    turns = [("user", "a question with several words")]
    for step in range(CHECKED_SPLITS + 2):
        prompt = chatml(*turns)
        assert asyncio.run(counter.count(prompt)) == asyncio.run(
            RecordingTokenizer(additive=False)(prompt, add_special=True))
        turns += [("assistant", f"reply {step}"), ("user", f"next {step}")]
    assert tokenizer.calls[-1] == (chatml(*turns[:-2]), True)


def test_a_model_without_special_tokens_counts_whole_prompts() -> None:
    tokenizer = RecordingTokenizer()

    async def no_special_tokens() -> list[str]:
        return []

    counter = PromptTokenCounter(tokenizer, no_special_tokens)
    assert asyncio.run(counter.count("plain words only")) == 4
    assert tokenizer.calls == [("plain words only", True)]
