"""`KiwoomOpenApiPlusEntrypoint` (and its older name `KiwoomOpenApiContext`) over the koabus SDK.

KOAPY's entrypoint started a 32-bit gRPC server next to the OCX; here it is a blocking koabus
`Client` of a running broker, at `router`/`pub`, else `$KOABUS_ROUTER`/`$KOABUS_PUB`, else the
default endpoints. Every control method (GetMasterCodeName, GetAPIModulePath, ...) and every
KOAPY-named SDK method (GetDailyStockDataAsDataFrame, ...) is reachable by name; the methods below
are the KOAPY ones whose shape differs from the SDK's: booleans where KOAPY returned booleans, event
streams of `ListenResponse` with `cancel()`, raw control strings where KOAPY gave them.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import pandas as pd

from koabus.common.client import Client
from koabus.common.errors import KiwoomError, NotFound
from koabus.metadata import catalog

from . import events
from .messages import ListenResponse
from .streams import EventStream

ENV_ROUTER, ENV_PUB = "KOABUS_ROUTER", "KOABUS_PUB"
#: KOAPY's stop_condition comparators -> the broker's TR `stop` ops
STOP_OPS = {"<=": "<=", "<": "<", ">=": ">=", ">": ">", "==": "=="}


class KiwoomOpenApiPlusNegativeReturnCodeError(KiwoomError):
    """A negative return code of the control (KOAPY's name)."""

    kind = "KiwoomError"


class KiwoomOpenApiPlusBooleanReturnCodeError(KiwoomError):
    """A call that returned 0/False for failure (KOAPY's name)."""

    kind = "KiwoomError"


KiwoomOpenApiPlusError = KiwoomError


class KiwoomOpenApiPlusEntrypoint:
    """KOAPY's entrypoint on a koabus broker. `with KiwoomOpenApiPlusEntrypoint() as entrypoint:`."""

    def __init__(self, router: Optional[str] = None, pub: Optional[str] = None, **client_kwargs: Any):
        router = router or os.environ.get(ENV_ROUTER) or None
        pub = pub or os.environ.get(ENV_PUB) or None
        self._client = Client(router, pub, **client_kwargs)
        self._streams: List[EventStream] = []

    # ---- lifecycle -------------------------------------------------------------------------------
    @property
    def client(self) -> Client:
        """The koabus Client underneath (for everything beyond KOAPY's names)."""
        return self._client

    def close(self) -> None:
        for stream in self._streams:
            stream.close()
        self._streams.clear()
        self._client.close()

    def __enter__(self) -> KiwoomOpenApiPlusEntrypoint:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._client, name)

    def Call(self, name: str, *args: Any) -> Any:  # noqa: N802 - KOAPY names from here on
        """Any control method by name (KOAPY's generic call)."""
        return self._client.call(name, *args)

    # ---- login and server ------------------------------------------------------------------------
    def IsConnected(self) -> bool:  # noqa: N802
        return int(self._client.call("GetConnectState") or 0) == 1

    def EnsureConnected(self, credentials: Optional[Mapping[str, Any]] = None) -> bool:  # noqa: N802
        """True once the control is logged in (the broker holds the credentials, so `credentials`
        is not used); a failed login raises KiwoomOpenApiPlusNegativeReturnCodeError."""
        code = self._client.EnsureConnected()
        if code != 0:
            raise KiwoomOpenApiPlusNegativeReturnCodeError(code, "login failed")
        return True

    def LoginCall(self, credentials: Optional[Mapping[str, Any]] = None) -> int:  # noqa: N802
        return self._client.EnsureConnected()

    def GetServerGubun(self) -> str:  # noqa: N802
        return str(self._client.call("KOA_Functions", "GetServerGubun", "") or
                   self._client.call("GetLoginInfo", "GetServerGubun"))

    def IsSimulationServer(self) -> bool:  # noqa: N802
        return self.GetServerGubun() == "1"

    def IsRealServer(self) -> bool:  # noqa: N802
        return not self.IsSimulationServer()

    def GetUserId(self) -> str:  # noqa: N802
        return str(self._client.call("GetLoginInfo", "USER_ID"))

    def GetUserName(self) -> str:  # noqa: N802
        return str(self._client.call("GetLoginInfo", "USER_NAME"))

    def GetAccountCount(self) -> int:  # noqa: N802
        return int(self._client.call("GetLoginInfo", "ACCOUNT_CNT") or 0)

    def GetAccountList(self) -> List[str]:  # noqa: N802
        return list(self._client.accounts())

    def GetFirstAvailableAccount(self) -> Optional[str]:  # noqa: N802
        return events.first(self.GetAccountList())

    # ---- TRs -------------------------------------------------------------------------------------
    def TransactionCall(self, rqname: str, trcode: str, scrno: Optional[str], inputs: Mapping[str, Any],  # noqa: N802
                        stop_condition: Optional[Mapping[str, Any]] = None) -> EventStream:
        """OnReceiveTrData events, one per page, every page (KOAPY paged to the end unless
        `stop_condition` {name, value, comparator} stopped it)."""
        stop = None
        if stop_condition:
            op = STOP_OPS.get(str(stop_condition.get("comparator", "<=")))
            if op is not None:
                stop = {"field": stop_condition.get("name"), "op": op, "value": str(stop_condition.get("value", ""))}
        spec = catalog().tr(trcode)
        record = spec.single_record or spec.multi_record
        source = self._client.tr(trcode, {k: str(v) for k, v in inputs.items()}, all_pages=True, typed=False,
                                 stop=stop)
        display = spec.display_code or trcode
        return self._track(EventStream(source, lambda page: [events.tr_event(page, rqname, display, scrno or "",
                                                                             record)]))

    def GetStockBasicInfoAsDict(self, code: str, rqname: Optional[str] = None,  # noqa: N802
                                scrno: Optional[str] = None) -> Dict[str, str]:
        """opt10001's single record, as the control's strings (KOAPY's shape)."""
        result: Dict[str, str] = {}
        for event in self.TransactionCall(rqname or "주식기본정보요청", "opt10001", scrno, {"종목코드": code}):
            result = dict(zip(event.single_data.names, event.single_data.values))
        return result

    def GetStockBasicInfoAsSeries(self, code: str, rqname: Optional[str] = None,  # noqa: N802
                                  scrno: Optional[str] = None) -> pd.Series:
        return pd.Series(self.GetStockBasicInfoAsDict(code, rqname, scrno))

    def GetYearlyStockDataAsDataFrame(self, code: str, start_date: Any = None, end_date: Any = None,  # noqa: N802
                                      include_end: bool = False, adjusted_price: bool = False,
                                      rqname: Optional[str] = None, scrno: Optional[str] = None) -> pd.DataFrame:
        """opt10094's rows as the control's strings, newest first (KOAPY's shape; the SDK has no yearly bars)."""
        inputs = {"종목코드": code, "수정주가구분": "1" if adjusted_price else "0",
                  "기준일자": _ymd(start_date) or pd.Timestamp.now(tz="Asia/Seoul").strftime("%Y%m%d"),
                  "끝일자": _ymd(end_date) or ""}
        stop = None
        if end_date is not None:
            stop = {"name": "일자", "value": _ymd(end_date), "comparator": "<" if include_end else "<="}
        columns: List[str] = []
        records: List[List[str]] = []
        for event in self.TransactionCall(rqname or "주식년봉차트조회요청", "opt10094", scrno, inputs, stop):
            columns = columns or list(event.multi_data.names)
            records += [list(row.values) for row in event.multi_data.values]
        return pd.DataFrame.from_records(records, columns=columns)

    # ---- markets ---------------------------------------------------------------------------------
    def GetKospiCodeList(self) -> List[str]:  # noqa: N802
        return sorted(self._client.GetCodeListByMarketAsList("0"))

    def GetKosdaqCodeList(self) -> List[str]:  # noqa: N802
        return sorted(self._client.GetCodeListByMarketAsList("10"))

    # ---- conditions ------------------------------------------------------------------------------
    def LoadCondition(self) -> int:  # noqa: N802
        self._client.request("condition_load")
        return 1

    def IsConditionLoaded(self) -> bool:  # noqa: N802
        return bool(self._client.call("GetConditionNameList"))

    def EnsureConditionLoaded(self, force: bool = False) -> int:  # noqa: N802
        if force or not self.IsConditionLoaded():
            return self.LoadCondition()
        return 1

    def GetConditionNameListAsList(self) -> List[Tuple[int, str]]:  # noqa: N802
        self.EnsureConditionLoaded()
        return list(self._client.conditions())

    def _condition_index(self, condition_name: str, condition_index: Optional[int]) -> int:
        if condition_index is not None:
            return int(condition_index)
        for index, name in self.GetConditionNameListAsList():
            if name == condition_name:
                return index
        raise NotFound(f"no condition named {condition_name!r} "
                       f"(the broker's conditions: {[n for _, n in self.GetConditionNameListAsList()]})")

    def GetCodeListByCondition(self, condition_name: str, condition_index: Optional[int] = None,  # noqa: N802
                               with_info: bool = False, is_future_option: bool = False,
                               request_name: Optional[str] = None, screen_no: Optional[str] = None
                               ) -> Union[List[str], Tuple[List[str], pd.DataFrame]]:
        """The condition's codes; with `with_info` also their OPTKWFID rows (Korean columns)."""
        index = self._condition_index(condition_name, condition_index)
        codes = list(self._client.condition_search(condition_name, index))
        if not with_info:
            return codes
        info = self._client.kwfid(codes, english=False) if codes else pd.DataFrame()
        return codes, info

    def GetCodeListByConditionAsStream(self, condition_name: str, condition_index: Optional[int] = None,  # noqa: N802
                                       with_info: bool = False, is_future_option: bool = False,
                                       request_name: Optional[str] = None, screen_no: Optional[str] = None,
                                       old_behavior: bool = False) -> EventStream:
        """OnReceiveTrCondition with the current result, then OnReceiveRealCondition per I/D change
        (each followed by OnReceiveTrData with the codes' OPTKWFID rows when `with_info`)."""
        index = self._condition_index(condition_name, condition_index)
        source = self._client.condition_stream(condition_name, index)
        scrno, rqname = screen_no or "", request_name or "관심종목정보요청"

        def convert(event: Any) -> List[ListenResponse]:
            out = events.condition_events(event, scrno)
            if with_info and event.kind in ("initial", "I") and event.codes:
                out.append(events.kwfid_event(self._client.kwfid(list(event.codes), english=False), scrno, rqname))
            return out

        return self._track(EventStream(source, convert))

    # ---- realtime --------------------------------------------------------------------------------
    def GetRealDataForCodesAsStream(self, code_list: Union[str, Sequence[str]],  # noqa: N802
                                    fid_list: Optional[Sequence[Any]] = None, opt_type: Optional[str] = None,
                                    screen_no: Any = None, infer_fids: bool = False, readable_names: bool = False,
                                    fast_parse: bool = False) -> EventStream:
        """OnReceiveRealData events of every realtime type holding one of `fid_list`'s FIDs (the
        types SetRealReg with those FIDs turns on), live only (no last-value snapshot, as KOAPY)."""
        codes = [code_list] if isinstance(code_list, str) else list(code_list)
        fids = [int(f) for f in fid_list or ()]
        if fids:
            source = self._client.realtime(codes, [], fids=fids, snapshot=False)
        else:
            source = self._client.realtime(codes, ["trade"], snapshot=False)
        return self._track(EventStream(source, lambda ev: [events.real_event(ev, fids, infer_fids or not fids,
                                                                             readable_names)]))

    def RealCall(self, scrno: Any, codes: Sequence[str], fids: Sequence[Any], opt_type: Optional[str] = None,  # noqa: N802
                 infer_fids: bool = False, readable_names: bool = False, fast_parse: bool = False) -> EventStream:
        return self.GetRealDataForCodesAsStream(codes, fids, opt_type, scrno, infer_fids, readable_names, fast_parse)

    # ---- orders ----------------------------------------------------------------------------------
    def OrderCall(self, rqname: str, scrno: str, account: str, order_type: int, code: str,  # noqa: N802
                  quantity: int, price: int, quote_type: str, original_order_no: Optional[str] = None
                  ) -> EventStream:
        """The order's events (OnReceiveMsg, OnReceiveTrData with 주문번호, OnReceiveChejanData) until
        it is done, as KOAPY's OrderCall streamed them."""
        source = self._client.OrderCall(rqname, scrno, account, int(order_type), code, int(quantity or 0),
                                        int(price or 0), quote_type, original_order_no or None)
        if isinstance(source, list):
            source = iter(source)
        return self._track(EventStream(source, lambda ev: events.order_events(ev, rqname, scrno or "")))

    # ---- internals -------------------------------------------------------------------------------
    def _track(self, stream: EventStream) -> EventStream:
        self._streams = [s for s in self._streams if s.is_active()] + [stream]
        return stream


def _ymd(value: Any) -> Optional[str]:
    return None if value is None else pd.Timestamp(value).strftime("%Y%m%d")


class KiwoomOpenApiContext(KiwoomOpenApiPlusEntrypoint):
    """KOAPY's earlier name for the entrypoint (`with KiwoomOpenApiContext() as context:`)."""


__all__ = ["KiwoomOpenApiContext", "KiwoomOpenApiPlusBooleanReturnCodeError", "KiwoomOpenApiPlusEntrypoint",
           "KiwoomOpenApiPlusError", "KiwoomOpenApiPlusNegativeReturnCodeError"]
