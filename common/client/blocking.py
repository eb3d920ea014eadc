"""Client: the blocking face of AsyncClient, running it on a private event loop in a background thread.

Every call is submitted with `run_coroutine_threadsafe` and waited on; the caller's own event loop (a
Jupyter kernel's, say) is never touched or re-entered, so the same code works in scripts, threads and
notebooks. Async iterators come back as plain iterators, async objects (order handles, streams) as
blocking proxies. Callbacks run in the client's loop thread and must not call the Client back.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
import weakref
from typing import Any, Callable, Optional

from .aclient import AsyncClient
from .core import RequestStream
from .orders import OrderHandle
from .requests import TrStream
from .streams import TopicStream

_ASYNC_OBJECTS = (AsyncClient, OrderHandle, TopicStream, TrStream, RequestStream)
_DONE = object()


class LoopThread:
    """A daemon thread running one event loop until `stop()`."""

    def __init__(self, name: str = "koabus-client"):
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.thread.start()
        self._started.wait(5)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        try:
            self.loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

    def run(self, coro: Any, timeout_s: Optional[float] = None) -> Any:
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("a blocking Client call from the client's own loop thread (a callback?); "
                               "use AsyncClient there")
        if self.loop.is_closed():
            coro.close()
            raise RuntimeError("the client is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout_s)
        except KeyboardInterrupt:
            future.cancel()
            raise

    def stop(self, timeout_s: float = 5.0) -> None:
        if self.loop.is_closed():
            return
        try:
            self.loop.call_soon_threadsafe(self.loop.stop)
        except RuntimeError:
            return
        if threading.current_thread() is not self.thread:
            self.thread.join(timeout_s)


async def _invoke(func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    result = func(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


class BlockingProxy:
    """Blocking view of an async object: coroutine methods block, async iterators become iterators."""

    def __init__(self, target: Any, runner: LoopThread):
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_runner", runner)
        object.__setattr__(self, "_aiter", None)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr
        runner = self._runner

        def blocking(*args: Any, **kwargs: Any) -> Any:
            return _wrap(runner.run(_invoke(attr, args, kwargs)), runner)

        blocking.__name__ = getattr(attr, "__name__", name)
        blocking.__doc__ = getattr(attr, "__doc__", None)
        return blocking

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def __dir__(self) -> Any:
        return sorted(set(dir(type(self._target))) | set(vars(self._target)))

    def __repr__(self) -> str:
        return f"Blocking({self._target!r})"

    # iteration
    def __iter__(self) -> BlockingProxy:
        return self

    def __next__(self) -> Any:
        try:
            item = self._runner.run(self._anext())
        except concurrent.futures.CancelledError:
            if self.__dict__.get("_closed"):  # closed from another thread while we waited
                raise StopIteration from None
            raise
        if item is _DONE:
            raise StopIteration
        return _wrap(item, self._runner)

    async def _anext(self) -> Any:
        if self._aiter is None:
            object.__setattr__(self, "_aiter", self._target.__aiter__())
        object.__setattr__(self, "_reading", asyncio.current_task())
        try:
            return await self._aiter.__anext__()
        except StopAsyncIteration:
            return _DONE

    def next(self, timeout_s: Optional[float] = None) -> Any:
        """The next item, or None when nothing came within `timeout_s`."""
        async def one() -> Any:
            try:
                return await asyncio.wait_for(self._anext(), timeout_s)
            except asyncio.TimeoutError:
                return None
        item = self._runner.run(one())
        if item is _DONE:
            raise StopIteration
        return _wrap(item, self._runner)

    # context manager: streams close, handles detach
    def __enter__(self) -> BlockingProxy:
        start = getattr(self._target, "start", None)
        if start is not None:
            self._runner.run(_invoke(start, (), {}))
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the target; safe from another thread while a reader is blocked on it (the reader
        ends with StopIteration). An async generator is stopped at its await point first, since
        `aclose()` on a running generator raises."""
        object.__setattr__(self, "_closed", True)
        for name in ("close", "aclose", "cancel"):
            method = getattr(self._target, name, None)
            if method is not None:
                self._runner.run(self._close_with(method, name == "aclose"))
                return

    async def _close_with(self, method: Callable[..., Any], stop_reader: bool) -> None:
        reading = self.__dict__.get("_reading")
        if stop_reader and reading is not None and not reading.done() and reading is not asyncio.current_task():
            reading.cancel()
            await asyncio.wait([reading])
        await _invoke(method, (), {})


def _wrap(value: Any, runner: LoopThread) -> Any:
    if isinstance(value, _ASYNC_OBJECTS) or hasattr(value, "__anext__") or hasattr(value, "__aiter__"):
        return BlockingProxy(value, runner)
    return value


class Client(BlockingProxy):
    """Blocking client; same methods as AsyncClient (KOAPY names included), connected on creation.

        with Client("tcp://127.0.0.1:5570", "tcp://127.0.0.1:5571") as client:
            client.EnsureConnected()
            frame = client.daily("005930", start="2024-01-01")
            for event in client.realtime(["005930"]):
                ...
    """

    def __init__(self, router: Optional[str] = None, pub: Optional[str] = None, *, connect: bool = True,
                 **kwargs: Any):
        runner = LoopThread()

        async def build() -> AsyncClient:
            return AsyncClient(router, pub, **kwargs)

        target = runner.run(build())
        super().__init__(target, runner)
        object.__setattr__(self, "_finalizer", weakref.finalize(self, _shutdown, target, runner))
        if connect:
            try:
                runner.run(target.connect())
            except BaseException:
                self.close()
                raise

    def connect(self) -> Client:
        self._runner.run(self._target.connect())
        return self

    def close(self) -> None:
        """Close the connection and stop the loop thread."""
        self._finalizer()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def async_client(self) -> AsyncClient:
        """The AsyncClient underneath (its methods must run on `loop`)."""
        return self._target

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._runner.loop


def _shutdown(target: AsyncClient, runner: LoopThread) -> None:
    try:
        if not runner.loop.is_closed() and threading.current_thread() is not runner.thread:
            runner.run(target.close(), timeout_s=5.0)
    except Exception:  # closing is best effort; the thread stops regardless
        pass
    runner.stop()
