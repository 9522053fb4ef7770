"""Exact prompt token counts that do not re-tokenise a whole conversation on every request.

llama.cpp cuts a prompt at its special tokens (`<|im_start|>`...) before it tokenises the text between
them, so the count of a prompt is the count of a prefix ending just before a special token plus the count
of the rest. A conversation only grows at its end: the count of every prompt is remembered at its last two
such boundaries (before the generation prompt's final segment, and at the end), and the next prompt that
shares that prefix tokenises only what follows it.

Whether the additivity holds is the tokenizer's business, not ours to assume: the first few split counts
of every runner are checked against a whole count, and a mismatch turns splitting off for that runner.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

logger = logging.getLogger(__name__)

REMEMBERED_PREFIXES = 4096
REMEMBERED_LAST_SEGMENTS = 64
LAST_SEGMENT_MAX_CHARS = 512
CHECKED_SPLITS = 3


class Tokenizer(Protocol):
    async def __call__(self, text: str, *, add_special: bool) -> int: ...


def boundary_pattern(special_tokens: Sequence[str]) -> re.Pattern[str] | None:
    """A pattern finding special tokens in a prompt, longest first, as llama.cpp matches them."""
    ordered = sorted({token for token in special_tokens if token}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, ordered))) if ordered else None


def segment_prefix_keys(prompt: str, boundaries: re.Pattern[str]) -> list[tuple[int, bytes]]:
    """(offset, key of prompt[:offset]) for each offset where a special token starts, then the end.
    Keys chain a hash across segments, so computing all of them reads the prompt once."""
    running = hashlib.blake2b(digest_size=16)
    keys: list[tuple[int, bytes]] = []
    start = 0
    for match in boundaries.finditer(prompt):
        if match.start() > start:
            running.update(prompt[start:match.start()].encode())
            keys.append((match.start(), running.digest()))
            start = match.start()
    running.update(prompt[start:].encode())
    keys.append((len(prompt), running.digest()))
    return keys


class PromptTokenCounter:
    """Counts rendered prompts for one runner, remembering the counts of the prefixes it has seen."""

    def __init__(self, tokenize: Tokenizer, special_tokens: Callable[[], Awaitable[Sequence[str]]]) -> None:
        self._tokenize = tokenize
        self._special_tokens = special_tokens
        self._boundaries: re.Pattern[str] | None = None
        self._boundaries_known = False
        self._prefix_counts: OrderedDict[bytes, int] = OrderedDict()
        self._last_segment_counts: OrderedDict[str, int] = OrderedDict()
        self._splits_left_to_check = CHECKED_SPLITS
        self._splits_are_exact = True

    async def count(self, prompt: str) -> int:
        boundaries = await self._boundary_pattern()
        if boundaries is None or not self._splits_are_exact:
            return await self._tokenize(prompt, add_special=True)
        keys = segment_prefix_keys(prompt, boundaries)
        known = self._longest_known_prefix(keys)
        if known == len(keys) - 1:
            return self._remember(keys[known][1], self._prefix_counts[keys[known][1]])
        total, split = await self._count_from(prompt, keys, known)
        if split and self._splits_left_to_check > 0:
            total = await self._checked(prompt, total)
        return total

    async def _count_from(self, prompt: str, keys: list[tuple[int, bytes]], known: int | None) -> tuple[int, bool]:
        """Tokenise what follows the longest known prefix as two parts (all but the last segment, then
        the last one) so that the next, longer prompt finds this one's prefix. Returns (count, whether
        the count was assembled from parts)."""
        start = keys[known][0] if known is not None else 0
        before = self._prefix_counts[keys[known][1]] if known is not None else 0
        last_start = keys[-2][0] if len(keys) > 1 else 0
        add_special = known is None
        if last_start <= start:
            if known is None:
                return self._remember(keys[-1][1], await self._tokenize(prompt, add_special=True)), False
            return self._remember(keys[-1][1], before + await self._last_segment_count(prompt[start:])), True
        head, tail = await asyncio.gather(
            self._tokenize(prompt[start:last_start], add_special=add_special),
            self._last_segment_count(prompt[last_start:]),
        )
        self._remember(keys[-2][1], before + head)
        return self._remember(keys[-1][1], before + head + tail), True

    async def _last_segment_count(self, segment: str) -> int:
        """A prompt's last segment is most often the same generation prompt (`<|im_start|>assistant\n`):
        short ones are remembered, so a grown conversation costs one tokenizer call, not two."""
        known = self._last_segment_counts.get(segment)
        if known is not None:
            return known
        count = await self._tokenize(segment, add_special=False)
        if len(segment) <= LAST_SEGMENT_MAX_CHARS:
            self._last_segment_counts[segment] = count
            while len(self._last_segment_counts) > REMEMBERED_LAST_SEGMENTS:
                self._last_segment_counts.popitem(last=False)
        return count

    async def _checked(self, prompt: str, assembled: int) -> int:
        self._splits_left_to_check -= 1
        whole = await self._tokenize(prompt, add_special=True)
        if whole != assembled:
            logger.warning("prompt token counts are not additive at special tokens for this model "
                           "(%d whole, %d in parts): counting whole prompts from now on", whole, assembled)
            self._splits_are_exact = False
            self._prefix_counts.clear()
            self._last_segment_counts.clear()
        return whole

    def _longest_known_prefix(self, keys: list[tuple[int, bytes]]) -> int | None:
        for position in range(len(keys) - 1, -1, -1):
            if keys[position][1] in self._prefix_counts:
                return position
        return None

    def _remember(self, key: bytes, count: int) -> int:
        self._prefix_counts[key] = count
        self._prefix_counts.move_to_end(key)
        while len(self._prefix_counts) > REMEMBERED_PREFIXES:
            self._prefix_counts.popitem(last=False)
        return count

    async def _boundary_pattern(self) -> re.Pattern[str] | None:
        if not self._boundaries_known:
            self._boundaries = boundary_pattern(await self._special_tokens())
            self._boundaries_known = True
        return self._boundaries
