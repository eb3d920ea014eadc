"""Streamed request answers in SDK form: TR pages (`TrStream`) over the core's `RequestStream`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .core import RequestStream


@dataclass(frozen=True)
class TrPage:
    """One page (or one part of a split page) of a TR answer, values as the broker typed them."""

    page: int
    prev_next: str
    single: Dict[str, Any] = field(default_factory=dict)
    multi: List[Dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_part(cls, data: Any) -> TrPage:
        data = data if isinstance(data, dict) else {}
        single = data.get("single")
        multi = data.get("multi")
        return cls(int(data.get("page", 0) or 0), str(data.get("prev_next", "") or ""),
                   dict(single) if isinstance(single, dict) else {},
                   [dict(r) for r in multi if isinstance(r, dict)] if isinstance(multi, list) else [])

    def as_dict(self) -> Dict[str, Any]:
        return {"page": self.page, "prev_next": self.prev_next, "single": self.single, "multi": self.multi}


class TrStream:
    """Pages of one TR request as an async iterator; `cancel()` stops paging at the broker.

    `on_page(page)` callbacks run for every page (progress bars); `summary` is END's result.
    """

    def __init__(self, opener: Any, code: str):
        self._opener = opener
        self._stream: Optional[RequestStream] = None
        self.code = code
        self.pages = 0
        self.rows = 0
        self._callbacks: List[Any] = []

    def add_callback(self, callback: Any) -> None:
        self._callbacks.append(callback)

    @property
    def summary(self) -> Any:
        return None if self._stream is None else self._stream.result

    def __aiter__(self) -> TrStream:
        return self

    async def __anext__(self) -> TrPage:
        if self._stream is None:
            self._stream = await self._opener()
        data = await self._stream.__anext__()
        page = TrPage.from_part(data)
        self.pages += 1
        self.rows += len(page.multi)
        for callback in self._callbacks:
            callback(page)
        return page

    async def collect(self) -> List[TrPage]:
        return [page async for page in self]

    async def cancel(self) -> None:
        if self._stream is not None:
            await self._stream.cancel()

    async def __aenter__(self) -> TrStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.cancel()
