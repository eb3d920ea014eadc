"""The generic TR path: SetInputValue, CommRqData, CommKwRqData, continuation, and the event pair.

Driven by the metadata spec of each TR: inputs are checked against the declared order, the
responder for the TR's family builds values by field name, and the page is laid out in the spec's
field order for GetCommData/GetRepeatCnt/GetCommDataEx. Decisions (facts §3.2, §5.2, documented in
docs/simulator.md):

- inputs missing, unknown or out of the declared order: CommRqData returns 0, then
  OnReceiveMsg("", "", "", "Fail to parse Request TR") and no OnReceiveTrData (koapy's observation);
- a TR the catalog does not know, or OPTKWFID through CommRqData: -201 (request init failed);
- a TR the catalog knows but no responder models (an imported TR): placeholder rows (`generic.py`);
- screen not 4 digits or "0000": -202; not connected: -106; over a query limit: -200;
- OnReceiveTrData first, then OnReceiveMsg(scr, rq, tr, "[00Z310] 모의투자 조회가 완료되었습니다");
- values are space-padded as `padding.py` documents (zero-padded account TRs excepted).
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Optional, Tuple

from PyQt5.QtCore import QTimer

from koabus.metadata import catalog

from ..core import (
    OP_ERR_NONE,
    OP_ERR_OVER_MAX_DATA,
    OP_ERR_RQ_STRING_FAIL,
    OP_ERR_RQ_STRUCT_FAIL,
    OP_ERR_SOCKET_CLOSED,
    SimCore,
)
from . import account, charts, generic, kwfid, quotes, ranking  # noqa: F401 (register responders)
from .base import RESPONDERS, TrPage, TrRequest
from .padding import pad, pad_row, pads

log = logging.getLogger(__name__)

FAIL_TO_PARSE = "Fail to parse Request TR"
MSG_DONE_MOCK = "[00Z310] 모의투자 조회가 완료되었습니다"
MSG_DONE_REAL = "[000000] 조회가 완료되었습니다"
# TRs after which the real control registers realtime for the queried code on the request screen.
REALTIME_TRS = ("opt10001",)


class TrContext:
    """The data of one OnReceiveTrData, readable while the event is being delivered."""

    def __init__(self, single_names: List[str], single: Dict[str, str],
                 multi_names: List[str], rows: List[List[str]]):
        self.single_names = single_names
        self.single = single
        self.multi_names = multi_names
        self.multi_index = {name: i for i, name in enumerate(multi_names)}
        self.rows = rows

    def repeat_count(self) -> int:
        return len(self.rows)

    def value(self, index: int, item: str) -> str:
        column = self.multi_index.get(item)
        if column is not None and self.rows:
            if 0 <= index < len(self.rows):
                return self.rows[index][column]
            return ""
        if item in self.single:
            return self.single[item] if index == 0 else ""
        return ""

    def value_at(self, row: int, column: int) -> str:
        if 0 <= row < len(self.rows) and 0 <= column < len(self.multi_names):
            return self.rows[row][column]
        return ""

    def rows_as_lists(self) -> List[List[str]]:
        return [list(r) for r in self.rows]


def build_context(spec: Any, page: TrPage, padded: bool = False) -> TrContext:
    """The page laid out in the spec's field order; `padded` applies the padding scheme of
    `padding.py` (the caller decides per TR)."""
    single_names = [f.name for f in spec.single_outputs]
    single = {name: page.single.get(name, "") for name in single_names}
    multi_names = [f.name for f in spec.multi_outputs]
    rows = [[row.get(name, "") for name in multi_names] for row in page.rows]
    if padded:
        single = {name: pad(value) for name, value in single.items()}
        rows = [pad_row(row) for row in rows]
    return TrContext(single_names, single, multi_names, rows)


class TrService:
    """SetInputValue/CommRqData/CommKwRqData and the continuation state per (screen, TR)."""

    def __init__(self, core: SimCore):
        self._core = core
        self._inputs: Dict[str, str] = {}
        self._cursors: Dict[Tuple[str, str], Any] = {}
        self.on_realtime_request: Optional[Callable[[str, List[str]], None]] = None

    # -- members -------------------------------------------------------------------------------
    def set_input_value(self, name: str, value: str) -> None:
        self._inputs[name] = value

    def set_output_fid(self, fid: str) -> int:
        """Unused since 1.0.0.1: accepted and ignored."""
        return OP_ERR_NONE

    def comm_invest_rq_data(self, market: str, rq_name: str, screen: str) -> int:
        """Not supported by the real control; it fails at request initialisation."""
        return OP_ERR_RQ_STRUCT_FAIL

    def comm_rq_data(self, rq_name: str, tr_code: str, prev_next: int, screen: str) -> int:
        core = self._core
        inputs, self._inputs = self._inputs, {}
        if not core.connected:
            return OP_ERR_SOCKET_CLOSED
        if not core.valid_screen(screen):
            return OP_ERR_RQ_STRING_FAIL
        code = tr_code.strip().lower()
        spec = _spec(code)
        if spec is None or code in ("optkwfid", "optfofid"):
            return OP_ERR_RQ_STRUCT_FAIL
        rc = core.acquire_query()
        if rc != OP_ERR_NONE:
            core.stats.tr_rejected += 1
            return rc
        core.use_screen(screen)
        core.stats.tr_requests += 1
        if list(inputs) != list(spec.input_names):
            log.info("TR %s inputs %s do not match the declared %s", code, list(inputs), spec.input_names)
            core.post("OnReceiveMsg", "", "", "", FAIL_TO_PARSE)
            return OP_ERR_NONE
        key = (screen, code)
        cursor = self._cursors.pop(key, None) if prev_next == 2 else None
        if prev_next != 2:
            self._cursors.pop(key, None)
        request = TrRequest(code, dict(inputs), screen, rq_name, cursor, spec, core.now())
        page = self._respond(code, request)
        if page.next_cursor is not None:
            self._cursors[key] = page.next_cursor
        self._deliver(screen, rq_name, tr_code, spec, page, "2" if page.next_cursor is not None else "0")
        if code in REALTIME_TRS and self.on_realtime_request is not None:
            self.on_realtime_request(screen, [request.get("종목코드")])
        return OP_ERR_NONE

    def comm_kw_rq_data(self, codes: str, next_: int, count: int, type_flag: int,
                        rq_name: str, screen: str) -> int:
        core = self._core
        self._inputs = {}
        if not core.connected:
            return OP_ERR_SOCKET_CLOSED
        if not core.valid_screen(screen):
            return OP_ERR_RQ_STRING_FAIL
        code_list = [c.strip() for c in codes.split(";") if c.strip()]
        if count > 0:
            code_list = code_list[:count]
        if len(code_list) > core.config.limits.max_kw_codes:
            return OP_ERR_OVER_MAX_DATA
        rc = core.acquire_query()
        if rc != OP_ERR_NONE:
            core.stats.tr_rejected += 1
            return rc
        core.use_screen(screen)
        core.stats.tr_requests += 1
        tr_name = "OPTFOFID" if type_flag == 3 else "OPTKWFID"
        spec = _spec("optkwfid")
        request = TrRequest("optkwfid", {"종목코드": ";".join(code_list)}, screen, rq_name, None, spec,
                            core.now())
        page = TrPage() if type_flag == 3 else self._respond("optkwfid", request)
        self._deliver(screen, rq_name, tr_name, spec, page, "0")
        if type_flag != 3 and self.on_realtime_request is not None:
            self.on_realtime_request(screen, code_list)
        return OP_ERR_NONE

    # -- helpers -------------------------------------------------------------------------------
    def _respond(self, code: str, request: TrRequest) -> TrPage:
        try:
            return RESPONDERS.get(code, generic.respond)(self._core.world, request)
        except Exception:  # a responder bug must look like "no data", not kill the Qt loop
            log.exception("responder for %s failed", code)
            return TrPage()

    def _deliver(self, screen: str, rq_name: str, tr_code: str, spec: Any, page: TrPage,
                 prev_next: str) -> None:
        core = self._core
        context = build_context(spec, page, core.config.pad_tr_values and pads(spec.code))
        message = page.message or (MSG_DONE_MOCK if core.config.server_gubun == "1" else MSG_DONE_REAL)

        def answer() -> None:
            core.post("OnReceiveTrData", screen, rq_name, tr_code, "", prev_next, 0, "", "", "",
                      context=context)
            core.post("OnReceiveMsg", screen, rq_name, tr_code, message)

        def later() -> None:  # from a timer: nothing may escape into Qt
            try:
                if core.connected:  # a session that ended meanwhile gets no answer, as on the real server
                    answer()
            except Exception:  # the control was torn down meanwhile
                log.debug("a delayed TR answer for %s was dropped", rq_name, exc_info=True)

        latency_ms = core.config.tr_latency_ms
        if latency_ms > 0:  # the server's answer time, beside the queue: realtime flows meanwhile
            QTimer.singleShot(latency_ms, later)
        else:
            answer()


def _spec(code: str) -> Any:
    try:
        return catalog().tr(code)
    except Exception:  # the catalog raises NotFound (or KeyError) for TRs it does not describe
        return None
