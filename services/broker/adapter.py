"""ControlAdapter: the only code that calls `dynamicCall`; Qt main thread only.

One typed method per OCX member the broker uses, plus `call(method, args)` for the generic `call`
op (already checked against the metadata signature). It counts calls per member so `status` and the
tests can see exactly what reached the control, times them (`control_s`, one perf_counter pair per
call, so a request can be charged the control time it used), and connects the nine OCX signals to
a handler object by name.
"""
from __future__ import annotations

import time
from collections import Counter
from typing import Any, Callable, Dict, List, Sequence

from koabus.services.control.events import EVENT_NAMES


class ControlAdapter:
    """Typed calls into the control (real QAxWidget or SimulatedControl)."""

    def __init__(self, control):
        self.control = control
        self.calls: Counter = Counter()
        #: seconds spent inside dynamicCall, per member and in total
        self.call_s: Counter = Counter()
        self.control_s = 0.0

    def _call(self, signature: str, *args: Any) -> Any:
        member = signature.split("(", 1)[0]
        self.calls[member] += 1
        started = time.perf_counter()
        try:
            return self.control.dynamicCall(signature, *args)
        finally:
            elapsed_s = time.perf_counter() - started
            self.control_s += elapsed_s
            self.call_s[member] += elapsed_s

    def connect_events(self, handlers: Dict[str, Callable[..., None]]) -> None:
        """Connect `handlers[event_name]` to each OCX signal the control has."""
        for name in EVENT_NAMES:
            handler = handlers.get(name)
            if handler is not None:
                getattr(self.control, name).connect(handler)

    def disconnect_events(self, handlers: Dict[str, Callable[..., None]]) -> None:
        for name in EVENT_NAMES:
            handler = handlers.get(name)
            if handler is None:
                continue
            try:
                getattr(self.control, name).disconnect(handler)
            except (TypeError, RuntimeError):
                pass

    # -- session -------------------------------------------------------------------------------
    def comm_connect(self) -> int:
        return _int(self._call("CommConnect()"))

    def get_connect_state(self) -> int:
        return _int(self._call("GetConnectState()"), 0)

    def get_login_info(self, tag: str) -> str:
        return _str(self._call("GetLoginInfo(QString)", tag))

    # -- TR queries ----------------------------------------------------------------------------
    def set_input_value(self, name: str, value: str) -> None:
        self._call("SetInputValue(QString, QString)", name, value)

    def comm_rq_data(self, rqname: str, trcode: str, prev_next: int, screen: str) -> int:
        return _int(self._call("CommRqData(QString, QString, int, QString)", rqname, trcode, prev_next, screen))

    def comm_kw_rq_data(self, codes: Sequence[str], type_flag: int, rqname: str, screen: str) -> int:
        return _int(self._call("CommKwRqData(QString, int, int, int, QString, QString)",
                               ";".join(codes), 0, len(codes), type_flag, rqname, screen))

    def get_repeat_cnt(self, trcode: str, record: str) -> int:
        return _int(self._call("GetRepeatCnt(QString, QString)", trcode, record), 0)

    def get_comm_data(self, trcode: str, record: str, index: int, item: str) -> str:
        return _str(self._call("GetCommData(QString, QString, int, QString)", trcode, record, index, item))

    def get_comm_data_ex(self, trcode: str, record: str) -> List[List[str]]:
        rows = self._call("GetCommDataEx(QString, QString)", trcode, record)
        return [list(r) for r in rows] if isinstance(rows, (list, tuple)) else []

    # -- realtime ------------------------------------------------------------------------------
    def set_real_reg(self, screen: str, codes: Sequence[str], fids: Sequence[int], opt: str) -> int:
        return _int(self._call("SetRealReg(QString, QString, QString, QString)", screen, ";".join(codes),
                               ";".join(str(f) for f in fids), opt))

    def set_real_remove(self, screen: str, code: str) -> None:
        self._call("SetRealRemove(QString, QString)", screen, code)

    def disconnect_real_data(self, screen: str) -> None:
        self._call("DisconnectRealData(QString)", screen)

    def get_comm_real_data(self, code: str, fid: int) -> str:
        return _str(self._call("GetCommRealData(QString, int)", code, fid))

    # -- orders --------------------------------------------------------------------------------
    def send_order(self, rqname: str, screen: str, account: str, order_type: int, code: str, qty: int,
                   price: int, hoga: str, orig_order_no: str) -> int:
        return _int(self._call(
            "SendOrder(QString, QString, QString, int, QString, int, int, QString, QString)",
            rqname, screen, account, order_type, code, qty, price, hoga, orig_order_no))

    def send_order_credit(self, rqname: str, screen: str, account: str, order_type: int, code: str,
                          qty: int, price: int, hoga: str, credit_gb: str, loan_date: str,
                          orig_order_no: str) -> int:
        return _int(self._call(
            "SendOrderCredit(QString, QString, QString, int, QString, int, int, QString, QString, QString,"
            " QString)",
            rqname, screen, account, order_type, code, qty, price, hoga, credit_gb, loan_date, orig_order_no))

    def send_order_fo(self, rqname: str, screen: str, account: str, code: str, ord_kind: int, side: str,
                      ord_type: str, qty: int, price: str, orig_order_no: str) -> int:
        return _int(self._call(
            "SendOrderFO(QString, QString, QString, QString, int, QString, QString, int, QString, QString)",
            rqname, screen, account, code, ord_kind, side, ord_type, qty, price, orig_order_no))

    def get_chejan_data(self, fid: int) -> str:
        return _str(self._call("GetChejanData(int)", fid))

    def get_master_last_price(self, code: str) -> str:
        return _str(self._call("GetMasterLastPrice(QString)", code))

    # -- master data (the broker's code list, `master.py`) -------------------------------------
    def get_code_list_by_market(self, market: str) -> str:
        return _str(self._call("GetCodeListByMarket(QString)", market))

    def get_master_code_name(self, code: str) -> str:
        return _str(self._call("GetMasterCodeName(QString)", code))

    def get_future_list(self) -> str:
        return _str(self._call("GetFutureList()"))

    def koa_functions(self, name: str, param: str) -> str:
        return _str(self._call("KOA_Functions(QString, QString)", name, param))

    # -- conditions ----------------------------------------------------------------------------
    def get_condition_load(self) -> int:
        return _int(self._call("GetConditionLoad()"))

    def get_condition_name_list(self) -> str:
        return _str(self._call("GetConditionNameList()"))

    def send_condition(self, screen: str, name: str, index: int, search: int) -> int:
        return _int(self._call("SendCondition(QString, QString, int, int)", screen, name, index, search))

    def send_condition_stop(self, screen: str, name: str, index: int) -> None:
        self._call("SendConditionStop(QString, QString, int)", screen, name, index)

    # -- generic -------------------------------------------------------------------------------
    def call(self, signature: str, args: Sequence[Any]) -> Any:
        """A metadata-checked call for the `call` op."""
        return self._call(signature, *args)


def _int(value: Any, default: int = -10) -> int:
    """A status code; an invalid result (None: the call failed in QAxBase) becomes `default` (-10 fail)."""
    if value is None:
        return default
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _str(value: Any) -> str:
    return "" if value is None else str(value)
