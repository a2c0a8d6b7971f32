"""A TicketBackend wrapper that counts the calls made to it (store round trips)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from ticketing.backend import TicketBackend

#: The calls that write (each one transaction).
WRITES = ("open", "append")


class CountingBackend:
    """Delegates every call to `inner` and counts it by method name."""

    def __init__(self, inner: TicketBackend) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.inner, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return await method(*args, **kwargs)

        return counted

    @property
    def writes(self) -> int:
        return sum(self.calls[n] for n in WRITES)

    @property
    def total(self) -> int:
        return sum(self.calls.values())
