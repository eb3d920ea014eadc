"""TR runner (Qt thread): one generic path for every TR, paged through the pacer, streamed page by page.

Inputs are named (Korean names, as SetInputValue takes them) and set in the TR's declared order
before every CommRqData, continuations included; unknown or missing names are refused with the list
of valid ones. Each page is read inside OnReceiveTrData and sent as one PART; paging continues while
the control says there is more and neither `max_pages` nor the `stop` condition ends it. OPTKWFID
takes any number of codes, sent in chunks of 100 through CommKwRqData.

Pipelined: the event reads the raw strings (the control allows reads only inside it) and decides
whether to continue (the stop condition types only its own column), asks for the next page when
pacing allows, and only then types the page and sends its PART, so the typing runs while the server
prepares the next page. The typed page waits in `TrJob.pending` meanwhile; anything that ends the
request sends it first, so PARTs keep their order and a failure still follows the page before it.
"""
from __future__ import annotations

import itertools
import logging
import operator
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from koabus.common.errors import (
    Cancelled,
    InvalidRequest,
    KiwoomError,
    KoabusError,
    Timeout,
    Unavailable,
)
from koabus.common.protocol.codec import pack

from .decoding import parser_for, raw_chars, typed_fields, typed_rows, typed_values
from .pacing import ACCOUNT, BULK, QUOTE, PacedCall

log = logging.getLogger(__name__)

KW_CHUNK = 100
#: return codes that mean "too many queries": back off and try the same call again
OVERLOAD_CODES = frozenset({-200, -209, -210, -211})
MAX_OVERLOAD_RETRIES = 5
#: a PART above this many bytes is split into several (the reply frame limit is 4 MiB)
PART_SPLIT_BYTES = 3 << 20
#: chart TRs: bulk history, served after quotes
BULK_TRS = frozenset({"opt10079", "opt10080", "opt10081", "opt10082", "opt10083", "opt10094",
                      "opt20004", "opt20005", "opt20006", "opt20007", "opt20008", "opt20019"})

_OPS: Dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq,
    "!=": operator.ne,
}
_ids = itertools.count(1)
#: a page ready to send, and the characters of its raw strings (None when unknown)
TypedPage = Tuple[Dict[str, Any], Optional[int]]


@dataclass(eq=False)
class StopCondition:
    """Paging ends at the first row where `row[field] <op> value`; that row and later ones are trimmed."""

    field: str
    op: Callable[[Any, Any], bool]
    value: Any

    def hit(self, row: Dict[str, Any]) -> bool:
        return self.hit_value(row.get(self.field))

    def hit_value(self, have: Any) -> bool:
        if have is None:
            return False
        try:
            return bool(self.op(have, self.value))
        except TypeError:
            return bool(self.op(str(have), str(self.value)))


@dataclass(eq=False)
class TrJob:
    """One `tr` or `kwfid` request in progress."""

    stream: Any
    client: Any
    spec: Any
    inputs: List[Tuple[str, str]]
    kind: str
    all_pages: bool = False
    max_pages: Optional[int] = None
    stop: Optional[StopCondition] = None
    typed: bool = True
    rqname: str = ""
    screen: str = ""
    page: int = 0
    rows: int = 0
    done: bool = False
    overloads: int = 0
    messages: List[str] = field(default_factory=list)
    timeout: Any = None
    deadline: Optional[float] = None
    #: seconds (on the broker's clock) its calls waited in the pacer for a slot
    paced_wait_s: float = 0.0
    #: seconds on the control's thread for it: its dynamicCalls and the events that read its pages
    control_s: float = 0.0
    #: perf_counter() when the event reading its current page began (None outside one)
    reading_since: Optional[float] = None
    #: seconds typing its pages, and the part of them spent while its next page was already asked for
    typing_s: float = 0.0
    typing_overlapped_s: float = 0.0
    #: the page read in the current event, typed and sent after the next page has been asked for
    pending: Optional[Callable[[], TypedPage]] = None
    #: a request went out since the last DisconnectRealData (the control may have registered realtime)
    tr_realtime: bool = False
    # kwfid
    chunks: List[List[str]] = field(default_factory=list)
    kw_type: int = 0


class TrRunner:
    """Runs `tr` and `kwfid` requests; fed OnReceiveTrData / OnReceiveMsg by the core."""

    def __init__(self, core):
        self.core = core
        self.jobs: Dict[str, TrJob] = {}
        #: totals over finished requests, for `status`
        self.paced_wait_s = 0.0
        self.control_s = 0.0

    # -- requests ------------------------------------------------------------------------------
    def start_tr(self, stream, client, args: Dict[str, Any], deadline: Optional[float]) -> None:
        spec = self.core.catalog.tr(args["code"])  # NotFound for an unknown code
        if spec.code.lower() in ("optkwfid", "optfofid"):
            raise InvalidRequest(f"{spec.code} is sent with op 'kwfid', not 'tr'")
        inputs = self._inputs(spec, args.get("inputs") or {})
        max_pages = args.get("max_pages")
        if max_pages is not None and max_pages <= 0:
            raise InvalidRequest("max_pages must be positive")
        self.core.require_connected()
        job = TrJob(stream, client, spec, inputs, kind=self._class_of(spec, args),
                    all_pages=bool(args.get("all_pages", False)), max_pages=max_pages,
                    stop=self._stop(spec, args.get("stop"), bool(args.get("typed", True))),
                    typed=bool(args.get("typed", True)), deadline=deadline)
        self._begin(job, "tr")

    def start_kwfid(self, stream, client, args: Dict[str, Any], deadline: Optional[float]) -> None:
        futures = bool(args.get("futures", False))
        spec = self.core.catalog.tr("optfofid" if futures else "optkwfid")
        codes = [c.strip() for c in args["codes"] if c.strip()]
        if not codes:
            raise InvalidRequest("kwfid needs at least one code")
        self.core.require_connected()
        job = TrJob(stream, client, spec, [], kind=QUOTE, typed=bool(args.get("typed", True)),
                    deadline=deadline, kw_type=3 if futures else 0)
        job.chunks = [codes[i:i + KW_CHUNK] for i in range(0, len(codes), KW_CHUNK)]
        self._begin(job, "kw")

    def _begin(self, job: TrJob, prefix: str) -> None:
        # the screen is taken when the first page is sent, so queued requests hold none
        job.rqname = f"{prefix}{next(_ids)}"
        self.jobs[job.rqname] = job
        job.stream.on_cancel = lambda: self._cancel(job)
        self._queue(job)

    def _queue(self, job: TrJob) -> None:
        call = PacedCall(job.kind, job.client, lambda: None, label=f"{job.spec.code} p{job.page}", owner=job,
                         deadline=job.deadline,
                         on_expired=lambda: self._finish(job, Timeout("the deadline passed while queued")))
        clock = self.core.clock
        waiting_since = [clock.time()]

        def run() -> None:
            now = clock.time()  # an overloaded call is queued again: each wait is counted once
            job.paced_wait_s += now - waiting_since[0]
            waiting_since[0] = now
            self._send(job, call)

        call.run = run
        self.core.submit_paced(call)

    # -- sending -------------------------------------------------------------------------------
    def _send(self, job: TrJob, call: PacedCall) -> None:
        if job.done:
            return
        if not self.core.connected:
            self._finish(job, Unavailable("the control is not connected"))
            return
        if not job.screen:
            try:
                job.screen = self.core.screens.allocate("tr")
            except KoabusError as exc:
                self._finish(job, exc)
                return
        adapter = self.core.adapter
        control_before_s = adapter.control_s
        if job.chunks:
            chunk = job.chunks[job.page]
            ret = adapter.comm_kw_rq_data(chunk, job.kw_type, job.rqname, job.screen)
        else:
            for name, value in job.inputs:
                adapter.set_input_value(name, value)
            ret = adapter.comm_rq_data(job.rqname, job.spec.display_code or job.spec.code,
                                       2 if job.page > 0 else 0, job.screen)
        job.control_s += adapter.control_s - control_before_s
        job.tr_realtime = True
        if ret == 0:
            self._arm_timeout(job)
            return
        if ret in OVERLOAD_CODES and job.overloads < MAX_OVERLOAD_RETRIES:
            job.overloads += 1
            self.core.paced_overload(call, ret)
            return
        self._finish(job, KiwoomError(ret, self.core.error_text(ret), details={"tr": job.spec.code}))

    def _arm_timeout(self, job: TrJob) -> None:
        if job.timeout is not None:
            job.timeout.cancel()
        job.timeout = self.core.wall_timer(
            self.core.settings.tr_timeout_s,
            lambda: self._finish(job, Timeout(f"no answer to {job.spec.code} within "
                                              f"{self.core.settings.tr_timeout_s:g} s",
                                              details={"messages": job.messages})))

    # -- events --------------------------------------------------------------------------------
    def on_tr_data(self, screen: str, rqname: str, trcode: str, record: str, prev_next: str) -> bool:
        job = self.jobs.get(rqname)
        if job is None:
            return False
        if job.timeout is not None:
            job.timeout.cancel()
            job.timeout = None
        if job.done:
            return True
        self._flush(job)  # a page still waiting would otherwise be overtaken
        job.reading_since = time.perf_counter()  # the event's reads; typing is counted by _flush
        try:
            if job.chunks:
                self._read_kw_page(job, trcode, rqname)
            else:
                self._read_page(job, trcode, rqname, prev_next)
        except KoabusError as exc:
            self._charge_reading(job)
            self._finish(job, exc)
        except Exception as exc:  # a bug reading this page must not leave the request hanging
            log.exception("reading %s failed", trcode)
            self._charge_reading(job)
            self._finish(job, KoabusError(f"reading {trcode} failed: {type(exc).__name__}"))
        return True

    @staticmethod
    def _charge_reading(job: TrJob) -> None:
        """Add the time since the page's event began to the job's control time (once per event)."""
        if job.reading_since is not None:
            job.control_s += time.perf_counter() - job.reading_since
            job.reading_since = None

    def on_msg(self, screen: str, rqname: str, trcode: str, message: str) -> bool:
        job = self.jobs.get(rqname)
        if job is None:
            return False
        job.messages.append(message)
        return True

    def _read_page(self, job: TrJob, trcode: str, rqname: str, prev_next: str) -> None:
        adapter, spec = self.core.adapter, job.spec
        single_raw = [adapter.get_comm_data(trcode, rqname, 0, f.name) for f in spec.single_outputs]
        block_raw: List[str] = []
        table: List[List[str]] = []
        if spec.multi_outputs:
            if spec.rows_per_page == 0:  # a non-repeating block: read at index 0, deliver as single
                block_raw = [adapter.get_comm_data(trcode, rqname, 0, f.name) for f in spec.multi_outputs]
            else:
                table = self._read_table(job, trcode, rqname)
        cut = self._stop_index(job, table)
        if cut is not None:
            table = table[:cut]
        job.rows += len(table)
        header = {"page": job.page, "prev_next": prev_next.strip()}
        messages = list(job.messages)
        job.messages.clear()

        def typed_page() -> TypedPage:
            single = typed_fields(spec.single_outputs, single_raw, job.typed)
            if block_raw:
                single.update(typed_fields(spec.multi_outputs, block_raw, job.typed))
            return ({**header, "single": single, "multi": typed_rows(spec.multi_outputs, table, job.typed),
                     "messages": messages}, raw_chars(table))

        more = prev_next.strip() == "2"
        self._continue(job, typed_page, more and job.all_pages and cut is None
                       and (job.max_pages is None or job.page + 1 < job.max_pages))

    def _read_table(self, job: TrJob, trcode: str, rqname: str) -> List[List[str]]:
        """The page's rows as raw strings in field order (typed later, outside the reads)."""
        adapter, fields = self.core.adapter, job.spec.multi_outputs
        count = adapter.get_repeat_cnt(trcode, rqname)
        if count <= 0:
            return []
        if count > 20:  # bulk: one call per page when the control supports it
            table = adapter.get_comm_data_ex(trcode, rqname)
            if table and len(table) == count and all(len(r) == len(fields) for r in table):
                return table
        return [[adapter.get_comm_data(trcode, rqname, i, f.name) for f in fields] for i in range(count)]

    @staticmethod
    def _stop_index(job: TrJob, table: List[List[str]]) -> Optional[int]:
        """The first row meeting the stop condition, judged on its typed value (only that column is
        typed here: the rest waits until the next page has been asked for); None when none does."""
        stop = job.stop
        if stop is None or not table:
            return None
        # the typed row keeps the last field of a repeated name, as typed_fields does
        index = next((i for i, f in reversed(list(enumerate(job.spec.multi_outputs))) if f.name == stop.field),
                     None)
        if index is None:
            return None
        # _read_table's rows hold every field
        values = typed_values(job.spec.multi_outputs[index].kind, [row[index] for row in table], job.typed)
        return next((i for i, value in enumerate(values) if stop.hit_value(value)), None)

    def _read_kw_page(self, job: TrJob, trcode: str, rqname: str) -> None:
        table = self._read_table(job, trcode, rqname)
        job.rows += len(table)
        self._undo_tr_realtime(job)  # each chunk registered its codes: stop their stream before the next
        chunk, codes = job.page, job.chunks[job.page]
        self._continue(job, lambda: ({"chunk": chunk, "codes": codes,
                                      "rows": typed_rows(job.spec.multi_outputs, table, job.typed)},
                                     raw_chars(table)),
                       job.page + 1 < len(job.chunks))

    def _continue(self, job: TrJob, typed_page: Callable[[], TypedPage], more: bool) -> None:
        """After a page's reads: ask for the next page first (pacing permitting), then type and send
        this one while the server answers; or send it and end the request."""
        self._charge_reading(job)
        job.pending = typed_page
        job.page += 1
        if more:
            self._queue(job)  # may end the request (an error, a deadline): _finish sends the page first
            self._flush(job, overlapped=True)
        else:
            self._finish(job, None)

    def _flush(self, job: TrJob, overlapped: bool = False) -> None:
        """Type the pending page and send it (once); its time counts as the request's control time."""
        typed_page, job.pending = job.pending, None
        if typed_page is None:
            return
        started = time.perf_counter()
        data, raw_text = typed_page()
        spent = time.perf_counter() - started
        job.typing_s += spent
        job.control_s += spent
        if overlapped and not job.done:
            job.typing_overlapped_s += spent
        self._emit_page(job, data, raw_text)

    def _emit_page(self, job: TrJob, data: Dict[str, Any], raw_text: Optional[int]) -> None:
        rows_key = "rows" if "rows" in data else "multi"
        pieces = [data]
        if (len(data[rows_key]) > 1 and _may_exceed(data, rows_key, raw_text)
                and len(pack(data)) > PART_SPLIT_BYTES):
            pieces = _split(data, rows_key)
        for piece in pieces:
            job.stream.part(piece)

    # -- ending --------------------------------------------------------------------------------
    def _finish(self, job: TrJob, error: Optional[KoabusError], cancelled: bool = False) -> None:
        if job.done:
            return
        try:
            self._flush(job)  # the page read before the end goes first
        except Exception:  # typing failed: the request still ends (with this error if it had none)
            log.exception("typing %s failed", job.spec.code)
            error = error or KoabusError(f"typing {job.spec.code} failed")
        job.done = True
        if job.timeout is not None:
            job.timeout.cancel()
            job.timeout = None
        self.jobs.pop(job.rqname, None)
        self.core.pacer.remove(lambda c: c.owner is job)
        if job.screen:
            if self.core.connected and job.tr_realtime:
                self._undo_tr_realtime(job)
            self.core.screens.release(job.screen)
        self.paced_wait_s += job.paced_wait_s
        self.control_s += job.control_s
        if error is None:
            result = {"pages": job.page, "rows": job.rows, "paced_wait_s": round(job.paced_wait_s, 6),
                      "control_s": round(job.control_s, 6), "typing_s": round(job.typing_s, 6),
                      "typing_overlapped_s": round(job.typing_overlapped_s, 6)}
            if cancelled:
                result["cancelled"] = True
            job.stream.end(result)
        else:
            job.stream.fail(error)

    def _undo_tr_realtime(self, job: TrJob) -> None:
        """DisconnectRealData on the request's screen: the control registers realtime for the codes a
        TR (OPTKWFID) asked about, a stream nobody subscribed to."""
        adapter = self.core.adapter
        control_before_s = adapter.control_s
        adapter.disconnect_real_data(job.screen)
        job.control_s += adapter.control_s - control_before_s
        job.tr_realtime = False

    def _cancel(self, job: TrJob) -> None:
        """CANCEL from the client: stop paging and end the stream (END, not an error)."""
        self._finish(job, None, cancelled=True)

    def release_client(self, client) -> None:
        for job in [j for j in self.jobs.values() if j.client == client]:
            job.stream.detach()
            self._finish(job, Cancelled("client gone"))

    def fail_all(self, error: KoabusError) -> None:
        for job in list(self.jobs.values()):
            self._finish(job, error)

    def pending(self) -> int:
        return len(self.jobs)

    # -- validation ----------------------------------------------------------------------------
    @staticmethod
    def _inputs(spec, given: Dict[str, Any]) -> List[Tuple[str, str]]:
        valid = list(spec.input_names)
        unknown = [name for name in given if name not in valid]
        if unknown:
            raise InvalidRequest(f"{spec.code} has no input(s) {', '.join(unknown)}",
                                 details={"unknown": unknown, "valid": valid})
        out: List[Tuple[str, str]] = []
        missing = []
        for item in spec.inputs:
            if item.name in given:
                value = given[item.name]
                if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                    raise InvalidRequest(f"input {item.name} must be text or a number",
                                         details={"input": item.name})
                out.append((item.name, str(value)))
            elif item.default is not None:
                out.append((item.name, str(item.default)))
            else:
                missing.append(item.name)
        if missing:
            raise InvalidRequest(f"{spec.code} needs input(s) {', '.join(missing)}",
                                 details={"missing": missing, "valid": valid})
        return out

    @staticmethod
    def _class_of(spec, args: Dict[str, Any]) -> str:
        if spec.needs_account or spec.code.lower().startswith("opw"):
            return ACCOUNT
        if spec.code.lower() in BULK_TRS or args.get("all_pages"):
            return BULK
        return QUOTE

    @staticmethod
    def _stop(spec, stop: Optional[Dict[str, Any]], typed: bool) -> Optional[StopCondition]:
        if not stop:
            return None
        name, op, value = stop.get("field"), stop.get("op"), stop.get("value")
        if not isinstance(name, str) or op not in _OPS:
            raise InvalidRequest("stop needs {field, op, value} with op one of " + " ".join(_OPS))
        try:
            fld = spec.field(name)
        except KeyError:
            raise InvalidRequest(f"{spec.code} has no output field {name!r}",
                                 details={"valid": list(spec.multi_names)}) from None
        if typed and value is not None:
            try:
                value = parser_for(fld.kind)(str(value))
            except (ValueError, TypeError):
                raise InvalidRequest(f"stop value {value!r} does not fit field {fld.name} ({fld.kind})") from None
        elif value is not None:
            value = str(value)
        return StopCondition(fld.name, _OPS[op], value)


#: msgpack bytes a row or a value takes beyond its text, at most (a map header; a number, a str header)
_BYTES_PER_ROW, _BYTES_PER_VALUE = 5, 9


def _may_exceed(data: Dict[str, Any], rows_key: str, raw_text: Optional[int]) -> bool:
    """False when the page surely packs under PART_SPLIT_BYTES, so the Qt thread need not pack it
    only to measure it (the I/O thread packs it to send). Typed texts are the stripped raw ones, or
    ISO dates and times at most twice as long, so 4 bytes (UTF-8) per raw character bound them."""
    rows = data[rows_key]
    if raw_text is None or not rows:
        return True
    key_bytes = _BYTES_PER_VALUE + 4 * max(map(len, set().union(*rows)), default=0)
    values = sum(map(len, rows))
    bound = (len(pack({k: v for k, v in data.items() if k != rows_key})) + _BYTES_PER_ROW * (len(rows) + 1)
             + values * (key_bytes + _BYTES_PER_VALUE) + 4 * raw_text)
    return bound > PART_SPLIT_BYTES


def _split(data: Dict[str, Any], rows_key: str) -> List[Dict[str, Any]]:
    rows = data[rows_key]
    half = len(rows) // 2
    out = []
    for index, part in enumerate((rows[:half], rows[half:])):
        piece = dict(data, **{rows_key: part, "piece": index})
        if len(part) > 1 and len(pack(piece)) > PART_SPLIT_BYTES:
            out += _split(piece, rows_key)
        else:
            out.append(piece)
    return out

