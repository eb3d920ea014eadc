"""TR runner (Qt thread): one generic path for every TR, paged through the pacer, streamed page by page.

Inputs are named (Korean names, as SetInputValue takes them) and set in the TR's declared order
before every CommRqData, continuations included; unknown or missing names are refused with the list
of valid ones. Each page is read inside OnReceiveTrData and sent as one PART; paging continues while
the control says there is more and neither `max_pages` nor the `stop` condition ends it. OPTKWFID
takes any number of codes, sent in chunks of 100 through CommKwRqData.
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

from .decoding import parser_for, typed_fields
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


@dataclass(eq=False)
class StopCondition:
    """Paging ends at the first row where `row[field] <op> value`; that row and later ones are trimmed."""

    field: str
    op: Callable[[Any, Any], bool]
    value: Any

    def hit(self, row: Dict[str, Any]) -> bool:
        have = row.get(self.field)
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
        job.reading_since = time.perf_counter()  # the whole event is this request's: reads and typing
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
        single = typed_fields(spec.single_outputs, single_raw, job.typed)
        multi: List[Dict[str, Any]] = []
        if spec.multi_outputs:
            if spec.rows_per_page == 0:  # a non-repeating block: read at index 0, deliver as single
                raw = [adapter.get_comm_data(trcode, rqname, 0, f.name) for f in spec.multi_outputs]
                single.update(typed_fields(spec.multi_outputs, raw, job.typed))
            else:
                multi = self._read_rows(job, trcode, rqname)
        stopped = False
        if job.stop is not None:
            for index, row in enumerate(multi):
                if job.stop.hit(row):
                    multi = multi[:index]
                    stopped = True
                    break
        job.rows += len(multi)
        self._charge_reading(job)
        self._emit_page(job, {"page": job.page, "prev_next": prev_next.strip(), "single": single,
                              "multi": multi, "messages": list(job.messages)})
        job.messages.clear()
        more = prev_next.strip() == "2"
        job.page += 1
        if more and job.all_pages and not stopped and (job.max_pages is None or job.page < job.max_pages):
            self._queue(job)
        else:
            self._finish(job, None)

    def _read_rows(self, job: TrJob, trcode: str, rqname: str) -> List[Dict[str, Any]]:
        adapter, fields = self.core.adapter, job.spec.multi_outputs
        count = adapter.get_repeat_cnt(trcode, rqname)
        if count <= 0:
            return []
        if count > 20:  # bulk: one call per page when the control supports it
            table = adapter.get_comm_data_ex(trcode, rqname)
            if table and len(table) == count and all(len(r) == len(fields) for r in table):
                return [typed_fields(fields, r, job.typed) for r in table]
        return [typed_fields(fields, [adapter.get_comm_data(trcode, rqname, i, f.name) for f in fields],
                             job.typed) for i in range(count)]

    def _read_kw_page(self, job: TrJob, trcode: str, rqname: str) -> None:
        rows = self._read_rows(job, trcode, rqname)
        job.rows += len(rows)
        self._charge_reading(job)
        self._emit_page(job, {"chunk": job.page, "codes": job.chunks[job.page], "rows": rows})
        job.page += 1
        if job.page < len(job.chunks):
            self._queue(job)
        else:
            self._finish(job, None)

    def _emit_page(self, job: TrJob, data: Dict[str, Any]) -> None:
        rows_key = "rows" if "rows" in data else "multi"
        pieces = [data]
        if len(data[rows_key]) > 1 and len(pack(data)) > PART_SPLIT_BYTES:
            pieces = _split(data, rows_key)
        for piece in pieces:
            job.stream.part(piece)

    # -- ending --------------------------------------------------------------------------------
    def _finish(self, job: TrJob, error: Optional[KoabusError], cancelled: bool = False) -> None:
        if job.done:
            return
        job.done = True
        if job.timeout is not None:
            job.timeout.cancel()
            job.timeout = None
        self.jobs.pop(job.rqname, None)
        self.core.pacer.remove(lambda c: c.owner is job)
        if job.screen:
            if self.core.connected:
                adapter = self.core.adapter
                control_before_s = adapter.control_s
                adapter.disconnect_real_data(job.screen)  # undo TR-triggered realtime
                job.control_s += adapter.control_s - control_before_s
            self.core.screens.release(job.screen)
        self.paced_wait_s += job.paced_wait_s
        self.control_s += job.control_s
        if error is None:
            result = {"pages": job.page, "rows": job.rows, "paced_wait_s": round(job.paced_wait_s, 6),
                      "control_s": round(job.control_s, 6)}
            if cancelled:
                result["cancelled"] = True
            job.stream.end(result)
        else:
            job.stream.fail(error)

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

