"""SimStore: the simulated Kiwoom server's state on disk, outside the broker's memory.

The real server keeps accounts, orders and fills whatever happens to the client program; with
`SimConfig.state_dir` the simulator does the same. Only the inputs are stored: the market is a pure
function of the seed and the virtual time and the exchange is deterministic, so replaying every
order input through a fresh exchange rebuilds orders, fills, cash and positions exactly
(`World` replays; this module is the file format, the lock and the read API, standard library only).

Layout of a state directory:

    store.json    written when the store is created: format, seed, market config, accounts
    inputs.jsonl  append-only, one JSON object per order input the exchange received (InputRecord),
                  flushed and fsynced inside SendOrder before it returns 0
    clock.json    the clock anchor (ClockAnchor), rewritten atomically (tmp + rename) about once a
                  second and at every order
    lock          flock()ed (msvcrt.locking on Windows) by the one simulator writing the store; its pid

Read API (tests and tools; safe while a simulator writes, a half-written last line is skipped):

    from koabus.services.sim.store import SimStore
    store = SimStore("var/state/sim")
    store.inputs()   # [InputRecord]: every order input in arrival order, rejections included
    store.orders()   # [InputRecord]: the accepted ones (each with its 7-digit order_no)
    store.anchor()   # ClockAnchor or None
    store.header()   # StoreHeader or None (no store there)
    store.holder()   # pid of the simulator holding the lock, or None
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

from koabus.common.errors import KoabusError
from koabus.common.filelock import FileLock, FileLocked

log = logging.getLogger(__name__)

FORMAT = 1
HEADER_FILE = "store.json"
INPUTS_FILE = "inputs.jsonl"
ANCHOR_FILE = "clock.json"
LOCK_FILE = "lock"
ANCHOR_INTERVAL_S = 1.0  # wall seconds between periodic anchor writes
ACTIONS = {1: ("new", "buy"), 2: ("new", "sell"), 3: ("cancel", "buy"), 4: ("cancel", "sell"),
           5: ("modify", "buy"), 6: ("modify", "sell")}


class StoreError(KoabusError):
    """The simulated server's state directory cannot be used."""

    kind = "SimStoreError"


class StoreLocked(StoreError):
    """Another simulator (a running broker) holds the store."""

    kind = "SimStoreLocked"


class StoreMismatch(StoreError):
    """The store was written by a simulator with other settings, or no longer replays the same."""

    kind = "SimStoreMismatch"


class StoreCorrupt(StoreError):
    """A file of the store cannot be read (not a torn last line: that is expected after a crash)."""

    kind = "SimStoreCorrupt"


@dataclass(frozen=True)
class StoreHeader:
    """What must match for a store to replay: the market (seed, config) and the accounts."""

    seed: int
    accounts: Tuple[Tuple[str, int], ...]  # (number, starting deposit KRW)
    market: Optional[str] = None  # repr of a custom MarketConfig; None = the default for the seed
    format: int = FORMAT

    def to_json(self) -> Dict[str, Any]:
        return {"format": self.format, "seed": self.seed, "market": self.market,
                "accounts": [[n, d] for n, d in self.accounts]}

    @classmethod
    def from_json(cls, data: Any, where: str) -> StoreHeader:
        try:
            accounts = tuple((str(n), int(d)) for n, d in data["accounts"])
            market = data.get("market")
            return cls(seed=int(data["seed"]), accounts=accounts,
                       market=None if market is None else str(market), format=int(data["format"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StoreCorrupt(f"{where}: not a simulator store header ({exc})") from None

    def describe(self) -> str:
        accounts = ", ".join(f"{n} ({d:,} KRW)" for n, d in self.accounts)
        market = f", market {self.market}" if self.market else ""
        return f"seed {self.seed}{market}, accounts {accounts}"


@dataclass(frozen=True)
class InputRecord:
    """One order input as the simulated exchange received it, with its result.

    seq counts inputs from 1; t is the virtual time (epoch seconds) the exchange saw; day the trading
    day (YYYY-MM-DD) it filed the input under; wall the wall time it was written. action "new" |
    "cancel" | "modify" and side "buy" | "sell" follow from order_type (SendOrder's nOrderType 1-6).
    accepted with order_no (7 digits), or rejected with order_no "" and the server's message.
    """

    seq: int
    t: float
    day: str
    order_type: int
    action: str
    side: str
    account: str
    code: str
    qty: int
    price: int
    hoga: str
    org_order_no: str
    credit: str
    screen: str
    rq_name: str
    tr_name: str
    accepted: bool
    order_no: str
    message: str
    wall: float

    def to_line(self) -> bytes:
        return (json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: Any) -> InputRecord:
        """Typed construction from a parsed line; a missing field or a wrong type raises ValueError."""
        if not isinstance(data, dict):
            raise ValueError("not an object")
        values = {}
        for f in fields(cls):
            if f.name not in data:
                raise ValueError(f"missing {f.name}")
            value = data[f.name]
            kind = {"int": int, "float": float, "bool": bool, "str": str}[f.type]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ValueError(f"{f.name} is not {f.type}")
            values[f.name] = value
        return cls(**values)


@dataclass(frozen=True)
class ClockAnchor:
    """Where the virtual clock was at a wall instant: a restart resumes at
    virtual_t + (wall now - wall_t) x speed, as the real server's time ran on meanwhile."""

    virtual_t: float
    wall_t: float
    speed: float
    seed: int
    trading_day: str
    pid: int = 0

    def resume_t(self, wall_now: float) -> float:
        return self.virtual_t + max(0.0, wall_now - self.wall_t) * self.speed

    @classmethod
    def from_json(cls, data: Any, where: str) -> ClockAnchor:
        try:
            return cls(virtual_t=float(data["virtual_t"]), wall_t=float(data["wall_t"]),
                       speed=float(data["speed"]), seed=int(data["seed"]),
                       trading_day=str(data["trading_day"]), pid=int(data.get("pid", 0)))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StoreCorrupt(f"{where}: not a clock anchor ({exc})") from None


def resume_time(start_t: float, anchor: Optional[ClockAnchor], inputs: List[InputRecord],
                wall_now: Optional[float] = None) -> float:
    """Where a restarted simulator's clock starts: the latest of the configured start, the anchor
    carried forward by the wall time that passed, and the last input (time never goes back)."""
    t = float(start_t)
    if anchor is not None:
        t = max(t, anchor.resume_t(time.time() if wall_now is None else wall_now))
    if inputs:
        t = max(t, inputs[-1].t)
    return t


# -- reading -----------------------------------------------------------------------------------------

class SimStore:
    """Read-only view of a state directory (see the module docstring). Takes no lock."""

    def __init__(self, path: os.PathLike[str] | str):
        self.path = os.fspath(path)

    def _file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def exists(self) -> bool:
        return any(os.path.exists(self._file(n)) for n in (HEADER_FILE, INPUTS_FILE, ANCHOR_FILE))

    def header(self) -> Optional[StoreHeader]:
        data = _read_json(self._file(HEADER_FILE))
        return None if data is None else StoreHeader.from_json(data, self._file(HEADER_FILE))

    def anchor(self) -> Optional[ClockAnchor]:
        data = _read_json(self._file(ANCHOR_FILE))
        return None if data is None else ClockAnchor.from_json(data, self._file(ANCHOR_FILE))

    def inputs(self) -> List[InputRecord]:
        return _read_inputs(self._file(INPUTS_FILE))[0]

    def orders(self) -> List[InputRecord]:
        return [r for r in self.inputs() if r.accepted]

    def holder(self) -> Optional[int]:
        """The pid holding the store's lock (0 when it cannot be read), or None when free."""
        path = self._file(LOCK_FILE)
        if not os.path.exists(path):
            return None
        try:
            lock = _FileLock.acquire(path, write_pid=False)
        except StoreLocked as exc:
            return int(exc.details.get("pid") or 0)
        lock.release()
        return None


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StoreCorrupt(f"{path}: {exc}") from None


def _read_inputs(path: str) -> Tuple[List[InputRecord], int]:
    """The complete records and the byte length they span. A last line without its newline is a
    write the crash interrupted (SendOrder never returned): it is not part of the store."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return [], 0
    records: List[InputRecord] = []
    end = data.rfind(b"\n") + 1
    for number, line in enumerate(data[:end].splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = InputRecord.from_json(json.loads(line.decode("utf-8")))
        except (ValueError, UnicodeDecodeError) as exc:
            raise StoreCorrupt(f"{path}:{number}: not an input record ({exc})") from None
        records.append(record)
    return records, end


# -- the lock ----------------------------------------------------------------------------------------

class _FileLock(FileLock):
    """The store's lock: a holder is named as the running simulator it is."""

    @classmethod
    def acquire(cls, path: str, write_pid: bool = True) -> FileLock:
        try:
            return super().acquire(path, write_pid)
        except FileLocked as exc:
            where = os.path.dirname(path)
            raise StoreLocked(
                f"the simulated server state in {where} is in use by a running simulator"
                f"{f' (pid {exc.pid})' if exc.pid else ''}; stop the broker first: make stop",
                details={"pid": exc.pid, "state_dir": where}) from None


# -- writing -----------------------------------------------------------------------------------------

class StoreWriter:
    """The one writer of a store: holds its lock from `open_store` until `close()` (or process exit).

    `records` are the inputs found at open (the torn last line of a crash dropped); `append` adds
    one durably; `write_anchor` replaces the clock anchor atomically.
    """

    def __init__(self, path: str, lock: _FileLock, header: StoreHeader, records: List[InputRecord],
                 anchor: Optional[ClockAnchor]):
        self.path = path
        self.header = header
        self.records = records
        self.anchor = anchor
        self._lock = lock
        inputs = os.path.join(path, INPUTS_FILE)
        created = not os.path.exists(inputs)
        self._inputs = open(inputs, "ab")  # noqa: SIM115 (held open for the store's life)
        if created:
            _fsync_dir(path)
        self._last_anchor_wall = 0.0

    @property
    def next_seq(self) -> int:
        return self.records[-1].seq + 1 if self.records else 1

    @property
    def closed(self) -> bool:
        return self._inputs.closed

    def append(self, record: InputRecord) -> None:
        """Write one input and wait until the disk has it (the caller returns 0 from SendOrder after)."""
        self._inputs.write(record.to_line())
        self._inputs.flush()
        os.fsync(self._inputs.fileno())
        self.records.append(record)

    def anchor_due(self, wall_now: float) -> bool:
        return wall_now - self._last_anchor_wall >= ANCHOR_INTERVAL_S

    def write_anchor(self, anchor: ClockAnchor) -> None:
        data = {**asdict(anchor), "written": datetime.fromtimestamp(anchor.wall_t, timezone.utc).isoformat()}
        _replace_json(os.path.join(self.path, ANCHOR_FILE), data)
        self.anchor = anchor
        self._last_anchor_wall = anchor.wall_t

    def close(self) -> None:
        if not self._inputs.closed:
            self._inputs.close()
        self._lock.release()


def header_for(config: Any) -> StoreHeader:
    """The header a simulator with this SimConfig writes and expects."""
    market = None if config.market_config is None else repr(config.market_config)
    return StoreHeader(seed=int(config.seed), accounts=tuple((a.number, int(a.deposit)) for a in config.accounts),
                       market=market)


def open_store(path: os.PathLike[str] | str, header: StoreHeader) -> StoreWriter:
    """Take the store at `path` (created if missing) for a simulator with `header`'s settings.

    Raises StoreLocked while another simulator holds it, StoreMismatch when it holds inputs of other
    settings (an empty store is simply re-labelled), StoreCorrupt when a file cannot be read.
    """
    path = os.fspath(path)
    os.makedirs(path, exist_ok=True)
    lock = _FileLock.acquire(os.path.join(path, LOCK_FILE))
    try:
        view = SimStore(path)
        records, good = _read_inputs(os.path.join(path, INPUTS_FILE))
        _drop_torn_tail(os.path.join(path, INPUTS_FILE), good)
        found = view.header()
        if found is not None and found != header and records:
            raise StoreMismatch(
                f"the simulated server state in {path} was written with {found.describe()}; this "
                f"simulator has {header.describe()}. Use the same settings, or clear the state with "
                f"`koabus sim reset --state-dir {path}`", details={"state_dir": path})
        if found != header:
            _replace_json(os.path.join(path, HEADER_FILE), header.to_json())
            _fsync_dir(path)
        anchor = view.anchor()
        if anchor is not None and anchor.seed != header.seed:
            anchor = None
        return StoreWriter(path, lock, header, records, anchor)
    except BaseException:
        lock.release()
        raise


def reset_store(path: os.PathLike[str] | str) -> int:
    """Delete the simulated server state at `path`; returns how many inputs it held.

    Raises StoreLocked while a simulator holds it. Only the store's own files are removed (the
    directory too when that leaves it empty), so a wrong --state-dir cannot delete anything else.
    """
    path = os.fspath(path)
    lock_path = os.path.join(path, LOCK_FILE)
    if not os.path.isdir(path):
        return 0
    lock = _FileLock.acquire(lock_path)
    try:
        count = len(SimStore(path).inputs()) if os.path.exists(os.path.join(path, INPUTS_FILE)) else 0
    except StoreCorrupt:
        count = 0
    try:
        for name in (INPUTS_FILE, ANCHOR_FILE, ANCHOR_FILE + ".tmp", HEADER_FILE, HEADER_FILE + ".tmp"):
            try:
                os.remove(os.path.join(path, name))
            except FileNotFoundError:
                pass
    finally:
        lock.release()
    try:
        os.remove(lock_path)
        os.rmdir(path)
    except OSError:
        pass  # not empty (someone else's files) or already gone
    return count


def _drop_torn_tail(path: str, good: int) -> None:
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        return
    if size > good:
        log.warning("%s: dropping %d bytes of an input whose write a crash interrupted", path, size - good)
        with open(path, "r+b") as fh:
            fh.truncate(good)
            fh.flush()
            os.fsync(fh.fileno())


def _replace_json(path: str, data: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    os.replace(tmp, path)


def _fsync_dir(path: str) -> None:
    if sys.platform == "win32":  # pragma: no cover
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
