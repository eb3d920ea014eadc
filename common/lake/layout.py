"""Where the lake's tables live on disk: table names <-> folders, Hive partitions, atomic file writes.

Layout under the lake root (docs/recorder.md, "Lake layout"):

    rt/<slug>/date=YYYY-MM-DD/<batch_key>.parquet        table rt_<slug>
    ch/<kind>/date=YYYY-MM-DD/<batch_key>.parquet        table ch_<kind> (order | balance | fo_balance)
    cond/date=YYYY-MM-DD/<batch_key>.parquet             table cond
    sys/date=YYYY-MM-DD/<batch_key>.parquet              table sys
    gaps/date=YYYY-MM-DD/<batch_key>.parquet             table gaps
    alerts/date=YYYY-MM-DD/<batch_key>.parquet           table alerts (the alerting service's alerts)
    history/daily/code=<code>/<batch_key>.parquet        table history_daily
    history/minute<N>/code=<code>/date=YYYY-MM-DD/<batch_key>.parquet    table history_minute<N>
    _recorder/                                           the recorder's journal and checkpoint (not data)

A file appears in one `os.replace` of a fully written and fsynced `*.tmp` sibling, so a reader
never sees half a file, and writing the same batch key again replaces the file instead of adding a
duplicate. Readers skip `*.tmp` files and `_*` / `.*` folders. Standard library only.
"""
from __future__ import annotations

import errno
import itertools
import os
import re
import threading
from pathlib import Path
from typing import Callable, List, Optional, Set, Union

from koabus.common.errors import InvalidRequest, NotFound

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_ROOT = "data"
RECORDER_DIR = "_recorder"
PARQUET_SUFFIX = ".parquet"
TMP_SUFFIX = ".tmp"

BUS_GROUPS = ("rt", "ch", "cond", "sys", "gaps", "alerts")  # tables partitioned by trading date only
CHEJAN_KINDS = ("order", "balance", "fo_balance")
#: tables in a folder of their own name at the root
FLAT_TABLES = ("cond", "sys", "gaps", "alerts")
HISTORY_DAILY = "history_daily"
HISTORY_MINUTE_PREFIX = "history_minute"

_SLUG = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CODE = re.compile(r"^[A-Za-z0-9_]{1,16}$")
_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
_MINUTE = re.compile(r"^minute([1-9][0-9]{0,3})$")


# ---- table names <-> folders

def folder_of(table: str) -> str:
    """The folder of a logical table under the root, '/'-separated: 'rt_trade' -> 'rt/trade'.

    Unknown or unsafe names raise NotFound, so a topic can never steer a write outside the lake.
    """
    if table in FLAT_TABLES:
        return table
    if table == HISTORY_DAILY:
        return "history/daily"
    if table.startswith(HISTORY_MINUTE_PREFIX):
        minute_interval(table)  # validates
        return "history/" + table[len("history_"):]
    group, _, rest = table.partition("_")
    if group == "rt" and _SLUG.match(rest):
        return f"rt/{rest}"
    if group == "ch" and rest in CHEJAN_KINDS:
        return f"ch/{rest}"
    raise NotFound(f"unknown lake table {table!r}")


def table_of_folder(folder: str) -> Optional[str]:
    """The table stored in `folder` (relative to the root, '/'-separated); None for anything else."""
    parts = [p for p in str(folder).replace(os.sep, "/").split("/") if p]
    if len(parts) == 1 and parts[0] in FLAT_TABLES:
        return parts[0]
    if len(parts) != 2:
        return None
    group, name = parts
    if group == "rt" and _SLUG.match(name):
        return f"rt_{name}"
    if group == "ch" and name in CHEJAN_KINDS:
        return f"ch_{name}"
    if group == "history" and name == "daily":
        return HISTORY_DAILY
    if group == "history" and _MINUTE.match(name):
        return f"history_{name}"
    return None


def minute_interval(table: str) -> int:
    """N of 'history_minute<N>'; NotFound for any other name."""
    match = _MINUTE.match(table[len("history_"):]) if table.startswith(HISTORY_MINUTE_PREFIX) else None
    if match is None:
        raise NotFound(f"unknown lake table {table!r}")
    return int(match.group(1))


def history_minute_table(interval: int) -> str:
    """'history_minute<N>' for a minute-bar tick range N (1, 3, 5, ...)."""
    table = f"{HISTORY_MINUTE_PREFIX}{int(interval)}"
    minute_interval(table)
    return table


def is_history(table: str) -> bool:
    return table == HISTORY_DAILY or table.startswith(HISTORY_MINUTE_PREFIX)


def partition_keys(table: str) -> List[str]:
    """The Hive partition columns of a table, outermost first: ['date'], ['code'] or ['code', 'date']."""
    folder_of(table)
    if table == HISTORY_DAILY:
        return ["code"]
    if table.startswith(HISTORY_MINUTE_PREFIX):
        return ["code", "date"]
    return ["date"]


# ---- paths

def table_dir(root: PathLike, table: str) -> Path:
    return Path(root).joinpath(*folder_of(table).split("/"))


def check_date(date: str) -> str:
    """`date` if it is 'YYYY-MM-DD', else InvalidRequest (dates become folder names)."""
    if not isinstance(date, str) or not _DATE.match(date):
        raise InvalidRequest(f"a lake date is 'YYYY-MM-DD', not {date!r}")
    return date


def check_code(code: str) -> str:
    if not isinstance(code, str) or not _CODE.match(code):
        raise InvalidRequest(f"a lake partition code is 1-16 letters, digits or '_', not {code!r}")
    return code


def partition_dir(root: PathLike, table: str, date: Optional[str] = None, code: Optional[str] = None) -> Path:
    """The folder holding one partition: `date` for bus tables, `code` (and `date`) for history."""
    path = table_dir(root, table)
    for key in partition_keys(table):
        value = date if key == "date" else code
        if value is None:
            raise InvalidRequest(f"table {table!r} is partitioned by {key}; give {key}=")
        value = check_date(value) if key == "date" else check_code(value)
        path = path / f"{key}={value}"
    return path


def file_path(root: PathLike, table: str, date: Optional[str], batch_key: str,
              code: Optional[str] = None) -> Path:
    """The final path of one batch file."""
    return partition_dir(root, table, date, code) / (check_batch_key(batch_key) + PARQUET_SUFFIX)


def recorder_dir(root: PathLike) -> Path:
    return Path(root) / RECORDER_DIR


def glob_pattern(root: PathLike, table: str) -> str:
    """A glob for every data file of a table, for DuckDB `read_parquet(..., hive_partitioning=true)`.

    It names the exact partition depth and ends in '*.parquet', so `*.tmp` files never match.
    """
    parts = [str(table_dir(root, table))] + [f"{key}=*" for key in partition_keys(table)] + ["*" + PARQUET_SUFFIX]
    return "/".join(p.replace(os.sep, "/") for p in parts)


# ---- batch keys

def batch_key(segment: Union[int, str], first_offset: int, last_offset: int) -> str:
    """A deterministic file name for one roll: '<segment>-<first>-<last>', zero padded so names sort.

    Re-rolling the same journal range after a crash gives the same key, so the file is replaced,
    not duplicated. `segment` is the recorder's journal segment (or epoch) number or a short token.
    """
    if int(first_offset) < 0 or int(last_offset) < int(first_offset):
        raise InvalidRequest(f"bad offset range {first_offset}..{last_offset}")
    seg = f"{segment:08d}" if isinstance(segment, int) and not isinstance(segment, bool) else str(segment)
    return check_batch_key(f"{seg}-{int(first_offset):016d}-{int(last_offset):016d}")


def check_batch_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.match(key) or key.startswith((".", "_")):
        raise InvalidRequest(f"a batch key is 1-200 of [A-Za-z0-9_.-], not starting with '.' or '_': {key!r}")
    return key


# ---- listing (what readers see)

def _visible_dirs(path: Path) -> List[Path]:
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
    except FileNotFoundError:
        return []
    return [Path(e.path) for e in entries if e.is_dir() and not e.name.startswith(("_", "."))]


def _partition_values(path: Path, key: str) -> List[str]:
    prefix = key + "="
    return [d.name[len(prefix):] for d in _visible_dirs(path) if d.name.startswith(prefix)]


def list_files(root: PathLike, table: str, date: Optional[str] = None, code: Optional[str] = None) -> List[Path]:
    """The complete data files of a table, sorted by partition then batch key; `*.tmp` never listed.

    `date` / `code` narrow to one partition value; None means all of them.
    """
    dirs = [table_dir(root, table)]
    for key in partition_keys(table):
        wanted = date if key == "date" else code
        nxt: List[Path] = []
        for parent in dirs:
            values = _partition_values(parent, key)
            if wanted is not None:
                values = [v for v in values if v == wanted]
            nxt += [parent / f"{key}={v}" for v in values]
        dirs = nxt
    files: List[Path] = []
    for d in dirs:
        try:
            names = sorted(e.name for e in os.scandir(d) if e.is_file())
        except FileNotFoundError:
            continue
        files += [d / n for n in names if n.endswith(PARQUET_SUFFIX) and not n.startswith((".", "_"))]
    return files


def list_dates(root: PathLike, table: str, code: Optional[str] = None) -> List[str]:
    """The trading dates a table has partitions for, sorted ('YYYY-MM-DD')."""
    if "date" not in partition_keys(table):
        return []
    if table.startswith(HISTORY_MINUTE_PREFIX):
        codes = [code] if code is not None else list_codes(root, table)
        found = set()
        for c in codes:
            found.update(_partition_values(table_dir(root, table) / f"code={c}", "date"))
        return sorted(found)
    return sorted(_partition_values(table_dir(root, table), "date"))


def list_codes(root: PathLike, table: str) -> List[str]:
    """The codes a history table has partitions for, sorted; [] for tables not partitioned by code."""
    if "code" not in partition_keys(table):
        return []
    return _partition_values(table_dir(root, table), "code")


def list_tables(root: PathLike) -> List[str]:
    """The tables that have a folder under `root`, sorted ('_recorder' and other '_*' folders skipped)."""
    root = Path(root)
    found = []
    for group in _visible_dirs(root):
        table = table_of_folder(group.name)
        if table is not None:
            found.append(table)
            continue
        for sub in _visible_dirs(group):
            table = table_of_folder(f"{group.name}/{sub.name}")
            if table is not None:
                found.append(table)
    return sorted(found)


# ---- atomic writes

_TMP_COUNTER = itertools.count(1)


def tmp_path(final: PathLike) -> Path:
    """A fresh temporary sibling a writer fills before the rename: '<name>.parquet.<pid>_<n>.tmp'.

    The pid lets `clean_tmp` tell a crashed writer's leftovers from a live writer's file; `n` keeps
    two threads writing the same key apart.
    """
    final = Path(final)
    return final.with_name(f"{final.name}.{os.getpid()}_{next(_TMP_COUNTER)}{TMP_SUFFIX}")


def fsync_dir(path: PathLike) -> None:
    """Make a rename or create inside `path` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # some filesystems refuse fsync on a directory
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.EACCES):
            raise
    finally:
        os.close(fd)


def atomic_write(final: PathLike, write: Callable[[Path], None], durable: bool = True) -> Path:
    """Create `final` all at once: `write(tmp)` fills a temp sibling, then fsync and `os.replace`.

    A reader sees the old file or the new one, never a partial one; a crash leaves only a `*.tmp`
    that readers ignore and `clean_tmp` removes. `durable=False` skips the fsyncs (tests, scratch).
    """
    final = Path(final)
    created = make_dirs(final.parent)
    tmp = tmp_path(final)
    with _IN_FLIGHT_LOCK:
        _IN_FLIGHT.add(os.path.abspath(tmp))
    try:
        write(tmp)
        if durable:
            fd = os.open(str(tmp), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, final)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    finally:
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT.discard(os.path.abspath(tmp))
    if durable:
        fsync_dir(final.parent)
        for folder in created:  # a new partition folder must survive a crash along with its file
            fsync_dir(folder.parent)
    return final


def make_dirs(path: PathLike) -> List[Path]:
    """`mkdir -p path`; returns the folders it created, deepest first (their parents need an fsync)."""
    path = Path(path)
    missing: List[Path] = []
    probe = path
    while not probe.is_dir():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True)
    return missing


# temp files this process is writing right now: a restarted writer may get its crashed
# predecessor's pid (containers), so for our own pid only these count as live
_IN_FLIGHT: Set[str] = set()
_IN_FLIGHT_LOCK = threading.Lock()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tmp_owner(name: str) -> Optional[int]:
    """The writer pid in '<name>.<pid>_<n>.tmp', or None when the name carries none."""
    stem = name[: -len(TMP_SUFFIX)]
    pid = stem.rpartition(".")[2].partition("_")[0]
    return int(pid) if pid.isdigit() else None


def clean_tmp(path: PathLike, include_live: bool = False) -> int:
    """Delete the `*.tmp` files a crashed writer left under `path` (recursively); returns how many.

    Files of a writer that is still running (by the pid in the name) are kept unless `include_live`;
    `_*` folders (the recorder's journal) are not entered.
    """
    removed = 0
    for dirpath, dirnames, filenames in os.walk(str(path)):
        dirnames[:] = [d for d in dirnames if not d.startswith("_")]
        for name in filenames:
            if not name.endswith(TMP_SUFFIX):
                continue
            full = os.path.join(dirpath, name)
            owner = _tmp_owner(name)
            if owner == os.getpid():
                with _IN_FLIGHT_LOCK:
                    live = os.path.abspath(full) in _IN_FLIGHT
            else:
                live = owner is not None and _pid_alive(owner)
            if live and not include_live:
                continue
            try:
                os.unlink(full)
                removed += 1
            except FileNotFoundError:
                pass
    return removed
