"""Prefix affinity: a conversation that continues goes back to the replica that served its prefix,
where that replica's prompt cache still holds it. Keys chain a hash over the messages, so all the
prefix keys of a conversation cost one pass over it."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any, Generic, TypeVar

import orjson

REMEMBERED_CONVERSATIONS = 4096

Target = TypeVar("Target")


def prefix_keys(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> list[bytes]:
    """keys[k] identifies messages[:k + 1] (with the tools, which are part of the prompt too)."""
    running = hashlib.blake2b(orjson.dumps(tools or []), digest_size=16)
    keys: list[bytes] = []
    for message in messages:
        running.update(orjson.dumps(message, option=orjson.OPT_SORT_KEYS))
        keys.append(running.copy().digest())
    return keys


class AffinityMap(Generic[Target]):
    """Which target served which conversation, the most recent few thousand, least recent forgotten."""

    def __init__(self, capacity: int = REMEMBERED_CONVERSATIONS) -> None:
        self._served: OrderedDict[bytes, Target] = OrderedDict()
        self._capacity = capacity

    def lookup(self, keys: list[bytes]) -> Target | None:
        """The target of the longest earlier prompt this one extends or repeats."""
        for key in reversed(keys):
            target = self._served.get(key)
            if target is not None:
                self._served.move_to_end(key)
                return target
        return None

    def remember(self, keys: list[bytes], target: Target) -> None:
        if not keys:
            return
        self._served[keys[-1]] = target
        self._served.move_to_end(keys[-1])
        while len(self._served) > self._capacity:
            self._served.popitem(last=False)
