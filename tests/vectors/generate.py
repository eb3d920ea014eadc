"""Builds the conformance vectors (tests/vectors/README.md) from the Python codec itself.

Every frame is produced by `encode_client`/`encode_broker`, `Publication`/`PublicationEncoder` or, for
the invalid vectors, by `codec.pack` plus deliberate damage; the realtime and chejan values go through
the broker's own decoding tables. So the files on disk are what the code does, and
`python -m tests.vectors.generate --check` (run by tests/vectors/test_vectors.py) fails when they drift.

    python -m tests.vectors.generate          # (re)write tests/vectors/<category>/<name>.json
    python -m tests.vectors.generate --check  # exit 1 if the files differ from what the code produces
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from koabus.common import errors
from koabus.common.protocol.codec import pack
from koabus.common.protocol.constants import PROTOCOL_VERSION, PubType
from koabus.common.protocol.messages import (
    Bye,
    Cancel,
    End,
    ErrorReply,
    Hello,
    Message,
    Part,
    Ping,
    Pong,
    Reply,
    Request,
    Welcome,
    encode_broker,
    encode_client,
)
from koabus.common.protocol.publication import Publication, PublicationEncoder

VECTORS_DIR = Path(__file__).resolve().parent
CATEGORIES = ("request", "reply", "stream", "error", "pub", "snapshot", "handshake", "invalid")
MAX_SAFE_INT = (1 << 53) - 1

# -- fixed, realistic values -----------------------------------------------------------------------
#: a broker epoch: random in [0, 2^63) at every start, so usually beyond 2^53 (BigInt in JavaScript)
EPOCH = 7349263114581298716
#: 2026-12-03 09:05:12 KST, the exchange time of the sample trade
EVENT_NS = int(datetime(2026, 12, 3, 0, 5, 12, tzinfo=timezone.utc).timestamp()) * 1_000_000_000
RECV_NS = EVENT_NS + 38_412_907
ACCOUNT = "8000000011"

#: 주식체결 of 005930 as the control delivers it (tab-separated payload, FIDs in the metadata's order)
TRADE_RAW = {
    20: "090512", 10: "+77000", 11: "+1200", 12: "+1.58", 27: "+77100", 28: "+77000", 15: "+35",
    13: "5123456", 14: "394512", 16: "+76500", 17: "+77300", 18: "-75800", 25: "2", 26: "-1234567",
    29: "+12345", 30: "80.55", 31: "0.09", 32: "0.00", 228: "103.45", 311: "4596630", 290: "2",
    691: "0", 822: "0", 567: "000000", 568: "000000", 851: "85.12", 1890: "090000", 1891: "090321",
    1892: "090012", 1030: "2412345", 1031: "2711111", 1032: "112.38", 1071: "10234", 1072: "11567",
    1313: "2695000", 1315: "0", 1316: "35", 1314: "+298766", 1497: "0.00", 1498: "0.00", 620: "+76845",
    732: "0.00", 852: "0.00",
}


def to_json(value: Any) -> Any:
    """A decoded msgpack value in the vectors' JSON form (README.md, "decoded")."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) <= MAX_SAFE_INT else {"$int": str(value)}
    if isinstance(value, float):
        if math.isnan(value):
            return {"$float": "nan"}
        if math.isinf(value):
            return {"$float": "inf" if value > 0 else "-inf"}
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bin": bytes(value).hex()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("vector maps must have string keys")
        return {k: to_json(v) for k, v in value.items()}
    raise TypeError(f"no JSON form for {type(value).__name__}")


def _vector(category: str, name: str, description: str, channel: str, direction: str,
            frames: Sequence[bytes], decoded: Any, error: Optional[Dict[str, Any]] = None,
            deviation: Optional[str] = None, decoder_deviation: Optional[str] = None) -> Dict[str, Any]:
    vector = {
        "category": category, "name": name, "description": description, "channel": channel,
        "direction": direction, "frames_hex": [bytes(f).hex() for f in frames], "decoded": decoded,
        "valid": error is None, "error": error,
    }
    if error is not None:
        vector["refused_at"] = refused_at(name)
    if deviation:
        vector["known_broker_deviation"] = deviation
    if decoder_deviation:
        vector["known_decoder_deviation"] = decoder_deviation
    return vector


def router(category: str, name: str, description: str, msg: Message) -> Dict[str, Any]:
    """A valid DEALER<->ROUTER message; its direction follows from its type."""
    to_broker = isinstance(msg, (Hello, Request, Cancel, Ping, Bye))
    frames = encode_client(msg) if to_broker else encode_broker(msg)
    decoded = {"envelope": [PROTOCOL_VERSION, msg.TYPE, to_json(msg.request_id)], "body": to_json(msg.body())}
    return _vector(category, name, description, "router", "to_broker" if to_broker else "from_broker",
                   frames, decoded)


def with_unknown_keys(category: str, name: str, description: str, msg: Message,
                      extra: Dict[str, Any]) -> Dict[str, Any]:
    """A valid message whose body also holds keys the receiver MUST ignore (`ignored_keys`): its typed
    decoding, and so its re-encoding, drop them."""
    vector = router(category, name, description, msg)
    frames = [bytes.fromhex(vector["frames_hex"][0]), pack({**msg.body(), **extra})]
    vector["frames_hex"] = [f.hex() for f in frames]
    vector["decoded"]["body"] = to_json({**msg.body(), **extra})
    vector["ignored_keys"] = sorted(extra)
    return vector


_ENCODER = PublicationEncoder()


def pub(category: str, name: str, description: str, publication: Publication) -> Dict[str, Any]:
    """A valid publication; the hot-path encoder and `Publication.to_frames` must agree byte for byte."""
    p = publication
    frames = _ENCODER.frames(p.topic, p.type, p.epoch, p.seq, p.topic_seq, p.event_ns, p.recv_ns, p.body)
    if frames != p.to_frames():
        raise AssertionError(f"{name}: PublicationEncoder and Publication.to_frames disagree")
    decoded = {"topic": p.topic,
               "envelope": to_json([PROTOCOL_VERSION, p.type, p.epoch, p.seq, p.topic_seq, p.event_ns, p.recv_ns]),
               "body": to_json(p.body)}
    return _vector(category, name, description, "pub", "from_broker", frames, decoded)


#: where each invalid vector is refused: "frames" (count, topic), "msgpack" (not msgpack, empty, an
#: extension type anywhere), "envelope" (its shape, version, type, request id), "body" (fields, limits)
REFUSED_AT = {
    "frames": ("invalid-one-frame", "invalid-three-frames", "invalid-pub-two-frames", "invalid-pub-topic-not-ascii"),
    "msgpack": ("invalid-envelope-not-msgpack", "invalid-body-empty-frame", "invalid-body-not-msgpack",
                "invalid-body-truncated", "invalid-ext-fixext1", "invalid-ext-timestamp-in-args",
                "invalid-ext-under-unknown-key", "invalid-reply-ext", "invalid-pub-body-ext"),
    "envelope": ("invalid-envelope-two-items", "invalid-envelope-not-array", "invalid-request-id-negative",
                 "invalid-request-id-2p63", "invalid-request-id-bool", "invalid-version-2", "invalid-version-string",
                 "invalid-unknown-type", "invalid-broker-type-to-broker", "invalid-pub-envelope-six-items",
                 "invalid-pub-unknown-type", "invalid-pub-version-2", "invalid-pub-seq-negative",
                 "invalid-pub-event-ns-text"),
}


def refused_at(name: str) -> str:
    return next((layer for layer, names in REFUSED_AT.items() if name in names), "body")


def invalid(name: str, description: str, frames: Sequence[bytes], kind: str, request_id: Optional[int],
            channel: str = "router", deviation: Optional[str] = None,
            decoder_deviation: Optional[str] = None) -> Dict[str, Any]:
    """Frames a receiver must refuse with `kind`; `request_id` is the id the refusal carries (None:
    the envelope was unreadable, so the broker answers with request id 0)."""
    direction = "to_broker" if channel == "router" and not name.startswith("invalid-reply") else "from_broker"
    return _vector("invalid", name, description, channel, direction, frames, None,
                   {"kind": kind, "request_id": request_id}, deviation, decoder_deviation)


# -- bodies ------------------------------------------------------------------------------------------

def trade_values(raw: Optional[Dict[int, str]] = None) -> Dict[str, Any]:
    """The typed `values` of a 주식체결 event, decoded by the broker's own realtime table."""
    from koabus.metadata.catalog import catalog
    from koabus.services.broker.decoding import FieldTable

    cat = catalog()
    table = FieldTable(cat.realtype("주식체결").fids, cat)
    merged = {**TRADE_RAW, **(raw or {})}
    values, bad = table.decode([merged[fid] for fid in table.fids])
    if bad:
        raise AssertionError(f"{bad} trade fields did not parse")
    return values


def status_result() -> Dict[str, Any]:
    return {"connected": True, "server": "mock", "state": "connected", "epoch": EPOCH, "seq": 18231,
            "broker": "koabus", "security": {"curve": False, "allowed_keys": 0, "insecure": False}}


# -- the vectors -------------------------------------------------------------------------------------

def build() -> List[Dict[str, Any]]:
    """Every vector, in a fixed order."""
    return [*_core(), *_handshake(), *_requests(), *_replies(), *_streams(), *_errors(), *_pubs(),
            *_snapshot(), *_invalid()]


def daily_row(day: str, close: int, volume: int, value: int, open_: int, high: int, low: int,
              code: str = "") -> Dict[str, Any]:
    """One opt10081 row as the broker types it: Korean field names, blanks as nil or "" (the control
    fills 종목코드 on the first row only)."""
    return {"종목코드": code, "현재가": close, "거래량": volume, "거래대금": value, "일자": day, "시가": open_,
            "고가": high, "저가": low, "수정주가구분": None, "수정비율": None, "대업종구분": "", "소업종구분": "",
            "종목정보": "", "수정주가이벤트": "", "전일종가": None}


def _core() -> List[Dict[str, Any]]:
    trade = Publication("rt.trade.005930", PubType.REALTIME, EPOCH, 18231, 412, EVENT_NS, RECV_NS,
                        {"type": "주식체결", "code": "005930", "values": trade_values()})
    hb_body = {"service": "broker", "pid": 4312, "host": "trading-pc", "state": "connected",
               "uptime_s": 3725.125, "interval_ms": 1000, "lag_s": None, "last_error": None,
               "time_ns": RECV_NS + 1_000_000, "epoch": EPOCH, "seq": 18231}
    return [
        router("request", "request-status", "REQUEST id 7 for `status` (the example of docs/protocol.md §3.1)",
               Request(7, "status", {})),
        router("reply", "reply-status", "REPLY to request 7: the status summary a non-admin key gets",
               Reply(7, status_result())),
        router("request", "request-tr-opt10081",
               "a TR request with Korean input names, all pages up to 2, a deadline and an idempotency key",
               Request(8, "tr", {"code": "opt10081", "inputs": {"종목코드": "005930", "기준일자": "20261203",
                                                                "수정주가구분": "1"},
                                 "all_pages": True, "max_pages": 2}, 30000, "daily-005930-20261203")),
        router("stream", "part-tr-opt10081-page0",
               "PART n=0 of request 8: the first TR page; rows use the TR's Korean field names, typed values",
               Part(8, 0, {"page": 0, "prev_next": "2", "single": {"종목코드": "005930"},
                           "multi": [daily_row("2026-12-03", 77000, 5123456, 394512, 76500, 77300, 75800,
                                               "005930"),
                                     daily_row("2026-12-02", 75800, 9731152, 737621, 76100, 76400, 75300)],
                           "messages": ["[00Z112] 모의투자 조회가 완료되었습니다"]})),
        router("stream", "end-tr-opt10081", "END of request 8 after 2 parts, with the paging summary",
               End(8, 2, {"pages": 2, "rows": 1200, "paced_wait_s": 0.0, "control_s": 0.412,
                          "typing_s": 0.018, "typing_overlapped_s": 0.009})),
        router("error", "error-invalid-request-unknown-op", "ERROR InvalidRequest for request 9: an unknown op",
               ErrorReply.from_exception(9, errors.InvalidRequest("unknown op 'teleport'",
                                                                   details={"op": "teleport"}))),
        pub("pub", "pub-rt-trade-005930",
            "RT 주식체결 of 005930: English FID names, prices positive, signed changes, float rates; "
            "epoch and the ns times beyond 2^53", trade),
        pub("pub", "pub-hb", "the broker heartbeat sys.hb: the service heartbeat body plus epoch and seq",
            Publication("sys.hb", PubType.HEARTBEAT, EPOCH, 18232, 3725, None, RECV_NS + 1_000_000, hb_body)),
        invalid("invalid-envelope-not-msgpack", "envelope byte 0xc1 is never valid msgpack: request id unknown",
                [b"\xc1", pack({})], "ProtocolError", None),
    ]


def _handshake() -> List[Dict[str, Any]]:
    return [
        router("handshake", "hello", "HELLO id 1: the versions the client speaks, its name and heartbeat interval",
               Hello(1, (1,), "node-demo", 1000)),
        router("handshake", "welcome", "WELCOME to HELLO 1: chosen version, the broker epoch (beyond 2^53), "
               "heartbeat period, the frame limit and the client lease", Welcome(1, 1, EPOCH, "koabus", {"connected": True,
                                                                                     "server": "mock",
                                                                                     "state": "connected"},
                                                         1000, 1 << 20)),
        router("handshake", "hello-future-version", "HELLO offering only version 2", Hello(2, (2,), "node-demo", 1000)),
        router("handshake", "error-no-common-version", "ERROR VersionMismatch to HELLO 2: the versions the broker speaks",
               ErrorReply.from_exception(2, errors.VersionMismatch("no common protocol version",
                                                                   details={"supported": [1]}))),
        router("handshake", "ping", "PING with a fresh request id", Ping(41)),
        router("handshake", "pong", "PONG to PING 41: the epoch and the last publication sequence",
               Pong(41, EPOCH, 18240)),
        router("handshake", "bye", "BYE with a fresh request id: no answer; the identity is retired", Bye(42)),
    ]


ORDER_ARGS = {"account": ACCOUNT, "side": "buy", "code": "005930", "qty": 10, "price": 77000, "hoga": "00",
              "client_order_id": "vec-buy-0001", "kind": "stock"}


def _requests() -> List[Dict[str, Any]]:
    def req(name: str, rid: int, op: str, args: Dict[str, Any], description: str, **kw: Any) -> Dict[str, Any]:
        return router("request", f"request-{name}", description, Request(rid, op, args, **kw))

    return [
        req("meta-fid", 10, "meta", {"kind": "fid", "key": 10}, "metadata of FID 10"),
        req("login", 11, "login", {}, "login (admin): the accounts and the server"),
        req("call", 12, "call", {"method": "GetMasterCodeName", "args": ["005930"]},
            "call a whitelisted control method"),
        req("kwfid", 13, "kwfid", {"codes": ["005930", "000660", "035420"], "typed": True},
            "current values of several codes (OPTKWFID)"),
        req("subscribe", 14, "subscribe", {"codes": ["005930", "000660"], "types": ["trade", "book"]},
            "subscribe two codes to trades and order books"),
        req("subscribe-fids", 15, "subscribe", {"codes": ["005930"], "fids": [10, 13, 20]},
            "subscribe by FID numbers"),
        req("unsubscribe", 16, "unsubscribe", {"codes": ["000660"], "types": ["book"]}, "release one subscription"),
        req("order", 21, "order", ORDER_ARGS, "a limit buy of 10 005930 at 77,000 with a client order id"),
        req("cancel-order", 22, "cancel_order", {"account": ACCOUNT, "client_order_id": "vec-buy-0002", "qty": 0,
                                                 "client_order_id_new": "vec-cancel-0002"},
            "cancel all the remaining quantity of an order, by its client order id"),
        req("modify-order", 23, "modify_order", {"account": ACCOUNT, "order_no": "0012346", "qty": 5,
                                                 "price": 76500, "hoga": "00", "code": "005930", "side": "buy"},
            "modify an order by its order number"),
        req("order-status", 24, "order_status", {"client_order_id": "vec-buy-0001"}, "state and events of an order"),
        req("condition-load", 25, "condition_load", {}, "load the user's conditions"),
        req("condition-list", 26, "condition_list", {}, "list the loaded conditions"),
        req("condition-search", 27, "condition_search", {"name": "거래량급증", "index": 0},
            "one-off condition search (Korean name)"),
        req("condition-watch", 28, "condition_watch", {"name": "거래량급증", "index": 0},
            "watch a realtime condition"),
        req("condition-stop", 29, "condition_stop", {"name": "거래량급증", "index": 0}, "stop watching it"),
        req("shutdown", 31, "shutdown", {}, "stop the broker in order (admin)"),
        req("tr-stop-untyped", 17, "tr", {"code": "opt10081", "inputs": {"종목코드": "005930", "기준일자": "20261203",
                                                                   "수정주가구분": "1"},
                                          "all_pages": True, "stop": {"field": "일자", "op": "<", "value": "20200101"},
                                          "typed": False},
            "a TR request paging until a date, values as the control's strings"),
        with_unknown_keys("request", "request-status-unknown-keys",
                          "REQUEST status with body keys a newer client added: the broker ignores them",
                          Request(18, "status", {}), {"trace_id": "c0ffee", "priority": 2}),
        with_unknown_keys("reply", "reply-unknown-keys", "REPLY with a body key a newer broker added: ignored",
                          Reply(19, {"released": 0}), {"served_by": "koabus-2"}),
        router("request", "cancel", "CANCEL carries the request id of the stream it stops (request 8, a TR)",
               Cancel(8)),
        router("request", "request-big-id", "the largest request id, 2^63 - 1 (uint64 on the wire, BigInt in JS)",
               Request((1 << 63) - 1, "status", {})),
    ]


SENT_MESSAGE = "[100000] 모의투자 매수주문완료"


def order_summary(**changes: Any) -> Dict[str, Any]:
    """An order's summary as every order event carries it (services/broker/orders.py Order.summary)."""
    summary = {"client_order_id": "vec-buy-0001", "journal_key": "vec-buy-0001", "order_no": "", "state": "sent",
               "account": ACCOUNT, "code": "005930", "side": "buy", "qty": 10, "price": 77000, "hoga": "00",
               "kind": "stock", "action": "new", "orig_order_no": "", "filled_qty": 0, "remaining_qty": 10,
               "avg_fill_price": None, "message": "", "error_code": None, "done": False}
    summary.update(changes)
    return summary


def _replies() -> List[Dict[str, Any]]:
    def rep(name: str, rid: int, result: Any, description: str) -> Dict[str, Any]:
        return router("reply", f"reply-{name}", description, Reply(rid, result))

    return [
        rep("meta-fid", 10, {"fid": 10, "name": "현재가", "name_en": "current_price", "kind": "price"},
            "the FID 10 metadata entry"),
        rep("login", 11, {"connected": True, "state": "connected", "server": "mock",
                          "accounts": [ACCOUNT, "8000000031"], "user_id": "kiwoomuser"},
            "logged in: the accounts"),
        rep("call", 12, "삼성전자", "a control method's return value (Korean text)"),
        rep("subscribe", 14, {"topics": ["rt.trade.005930", "rt.book.005930", "rt.trade.000660", "rt.book.000660"],
                              "registered": True}, "the topics that now flow on PUB"),
        rep("unsubscribe", 16, {"released": 1}, "one subscription released"),
        rep("order-status", 24, {**order_summary(order_no="0012345", state="filled", filled_qty=10, remaining_qty=0,
                                                 avg_fill_price=77000, done=True),
                                 "events": ["sent", "order_no", "accepted", "fill", "balance", "done"]},
            "an order's state and its events so far"),
        rep("condition-load", 25, {"loaded": True, "count": 4}, "conditions loaded: how many"),
        rep("condition-list", 26, [{"index": 0, "name": "거래량급증"}, {"index": 1, "name": "52주신고가근접"},
                                  {"index": 2, "name": "중소형 저평가주"}, {"index": 3, "name": "상승률상위"}],
            "the loaded conditions"),
        rep("condition-search", 27, {"codes": ["000660", "005930", "035420"]}, "the codes meeting a condition"),
        rep("condition-watch", 28, {"codes": ["000660", "005930"], "topic": "cond.0"},
            "the current members; changes follow on cond.0"),
        rep("condition-stop", 29, {"stopped": True}, "watch stopped"),
        rep("shutdown", 31, {}, "the broker stops after this reply"),
        rep("value-kinds", 90, {"int64_min": -(1 << 63), "int64_max": (1 << 63) - 1, "uint64_max": (1 << 64) - 1,
                                "safe_max": MAX_SAFE_INT, "beyond_safe": MAX_SAFE_INT + 1, "neg_fixint": -32,
                                "int8": -33, "int16": -200, "uint8": 200, "uint16": 60000, "uint32": 4000000000,
                                "float": 0.1, "float_int": 2.0, "neg_zero": -0.0, "nan": float("nan"),
                                "inf": float("inf"), "neg_inf": float("-inf"), "bin": b"\x00\xff\x10",
                                "empty_bin": b"", "empty_str": "", "korean": "삼성전자 우선주", "nil": None,
                                "true": True, "false": False, "empty_list": [], "empty_map": {},
                                "nested": [[1, [2.5, "x"]], {"a": {"b": None}}], "long_str": "가" * 40},
            "every msgpack value kind a result may carry (any op), for decoders: 64-bit ints both ways, "
            "uint64, non-finite floats, bin, nesting"),
        rep("status-admin", 32, {"connected": True, "server": "mock", "epoch": EPOCH, "seq": 18231, "clients": 2,
                                 "realtime": {"codes": 2, "screens": 1}, "counters": {"requests": 57, "errors": 1},
                                 "memory": {"rss_mb": 182.5, "peak_mb": 190.25, "max_rss_mb": 2048, "shed_mb": 1536,
                                            "shedding": False, "shed_episodes": 0},
                                 "security": {"curve": False, "allowed_keys": 0, "insecure": False}},
            "status for an admin key (abridged): nested maps, floats, the epoch beyond 2^53"),
    ]


def chejan_values(gubun: str, raw: Dict[int, str]) -> Dict[str, Any]:
    """Typed chejan values by English FID name, decoded by the broker's own chejan table."""
    from koabus.metadata.catalog import catalog
    from koabus.services.broker.decoding import ChejanDecoder

    cat = catalog()
    fids = cat.chejan_fids(gubun)
    return ChejanDecoder(cat).decode(fids, {fid: raw.get(fid, "") for fid in fids})


#: a 체결 (fill) of the vector's buy order, as OnReceiveChejanData gubun "0" delivers it
FILL_RAW = {9201: ACCOUNT, 9203: "0012345", 9205: "", 9001: "A005930", 912: "JJ", 913: "체결", 302: "삼성전자",
            900: "10", 901: "77000", 902: "0", 903: "770000", 904: "0000000", 905: "+매수", 906: "보통", 907: "2",
            908: "090512", 909: "101", 910: "77000", 911: "10", 10: "+77000", 27: "+77100", 28: "+77000",
            914: "77000", 915: "10", 938: "110", 939: "0", 919: "0", 920: "0001", 921: "", 922: "00",
            923: "00000000", 949: "3", 10010: "+77000", 969: "0", 819: "0"}
#: a KOSPI200 futures position (gubun "4", derivatives balance)
FO_BALANCE_RAW = {9201: "7000000011", 9001: "101W3000", 302: "F 202612", 10: "+372.45", 930: "2", 931: "370.10",
                  932: "185050000", 933: "2", 945: "+2", 946: "2", 950: "0", 951: "15230000", 27: "+372.50",
                  28: "+372.45", 307: "369.80", 8019: "0.63", 397: "250000", 305: "399.35", 306: "340.25",
                  947: "1"}
#: the stock balance (gubun "1") that follows it
BALANCE_RAW = {9201: ACCOUNT, 9001: "A005930", 917: "00", 916: "00000000", 302: "삼성전자", 10: "+77000",
               930: "10", 931: "77000", 932: "770000", 933: "10", 945: "10", 946: "2", 950: "0", 951: "0",
               27: "+77100", 28: "+77000", 307: "75800", 8019: "0.00", 957: "0", 958: "0", 918: "", 990: "0",
               991: "0.00", 992: "0", 993: "0.00", 959: "0", 924: "0", 10010: "", 25: "2", 11: "+1200",
               12: "+1.58", 306: "98500", 305: "53100", 970: "0"}


def kwfid_row(raw: Dict[str, str]) -> Dict[str, Any]:
    """One OPTKWFID row typed by the broker's own TR typing; fields not in `raw` are blank, as for a stock
    (the ELW and derivatives columns)."""
    from koabus.metadata.catalog import catalog
    from koabus.services.broker.decoding import typed_fields

    fields = catalog().tr("OPTKWFID").multi_outputs
    return typed_fields(fields, [raw.get(f.name, "") for f in fields], True)


def _kwfid_raw(code: str, name: str, price: int, change: int, rate: str, volume: int) -> Dict[str, str]:
    sign = "+" if change > 0 else "-" if change < 0 else ""
    return {"종목코드": code, "종목명": name, "현재가": f"{sign}{price}", "기준가": str(price - change),
            "전일대비": f"{sign}{abs(change)}", "전일대비기호": "2" if change > 0 else "5" if change < 0 else "3",
            "등락율": rate, "거래량": str(volume), "거래대금": str(volume * price // 1_000_000),
            "체결량": "+35", "체결강도": "103.45", "매도호가": f"{sign}{price + 100}", "매수호가": f"{sign}{price}",
            "시가": str(price - 500), "고가": str(price + 300), "저가": str(price - 1200), "종가": str(price),
            "체결시간": "090512", "호가시간": "090513", "일자": "20261203", "액면가": "100",
            "상한가": str((price - change) * 13 // 10), "하한가": str((price - change) * 7 // 10)}


def _streams() -> List[Dict[str, Any]]:
    kwfid_rows = [kwfid_row(_kwfid_raw("005930", "삼성전자", 77000, 1200, "+1.58", 5123456)),
                  kwfid_row(_kwfid_raw("000660", "SK하이닉스", 178500, -2500, "-1.38", 2311842)),
                  kwfid_row(_kwfid_raw("035420", "NAVER", 201000, 0, "0.00", 412377))]
    accepted = order_summary(order_no="0012345", state="accepted", message=SENT_MESSAGE)
    filled = order_summary(order_no="0012345", state="filled", filled_qty=10, remaining_qty=0, avg_fill_price=77000,
                           done=True, message=SENT_MESSAGE)
    common = {"status": "체결", "time": "090512", "order_kind": "+매수"}
    order_events = [
        {"event": "sent", **order_summary()},
        {"event": "message", **order_summary(message=SENT_MESSAGE), "trcode": "KOA_NORMAL_BUY_KP_ORD"},
        {"event": "order_no", **accepted, "state": "sent"},
        {"event": "accepted", **accepted, "status": "접수", "time": "090511", "order_kind": "+매수"},
        {"event": "fill", **{**filled, "done": False}, "fill_no": "101", "fill_price": 77000, "fill_qty": 10,
         "counted_qty": 10, **common},
        {"event": "balance", **{**filled, "done": False}, "values": chejan_values("1", BALANCE_RAW)},
        {"event": "done", **filled},
    ]
    stream = [
        router("stream", "part-tr-opt10081-page1-piece0",
               "PART n=1: page 1 split over frames; `piece` 0 of it (a client concatenates the rows)",
               Part(8, 1, {"page": 1, "piece": 0, "prev_next": "0", "single": {"종목코드": "005930"},
                           "multi": [daily_row("2024-07-11", 87600, 25311242, 2217263, 87500, 88800, 86700)],
                           "messages": []})),
        router("stream", "part-kwfid-chunk0", "PART n=0 of request 13: one chunk of up to 100 codes",
               Part(13, 0, {"chunk": 0, "codes": ["005930", "000660", "035420"], "rows": kwfid_rows})),
        router("stream", "end-kwfid", "END of request 13", End(13, 1, {"pages": 1, "rows": 3, "paced_wait_s": 0.2,
                                                                    "control_s": 0.031, "typing_s": 0.001,
                                                                    "typing_overlapped_s": 0.0})),
    ]
    for n, event in enumerate(order_events):
        stream.append(router("stream", f"part-order-{event['event'].replace('_', '-')}",
                             f"PART n={n} of order request 21: the `{event['event']}` event with the order summary",
                             Part(21, n, event)))
    cancel_summary = order_summary(client_order_id="vec-cancel-0002", journal_key="vec-cancel-0002",
                                   order_no="0012347", action="cancel", orig_order_no="0012346", qty=0, price=0,
                                   state="confirmed", remaining_qty=0)
    stream += [
        router("stream", "end-order", "END of order request 21 after its parts: the final summary",
               End(21, len(order_events), filled)),
        router("stream", "part-cancel-confirmed", "PART n=2 of cancel request 22: chejan 확인 of the cancel order",
               Part(22, 2, {"event": "confirmed", **cancel_summary, "status": "확인", "time": "091030",
                            "order_kind": "매수취소"})),
        router("stream", "part-order-cancelled", "PART on the original order's stream: it was cancelled",
               Part(20, 3, {"event": "cancelled", **order_summary(client_order_id="vec-buy-0002",
                                                                   journal_key="vec-buy-0002", order_no="0012346",
                                                                   state="cancelled", remaining_qty=0, done=False),
                            "by_order_no": "0012347", "cancelled_qty": 0})),
        router("stream", "part-order-rejected",
               "PART: a rejected order is an event on its stream (then `done`, `END`), not an ERROR reply",
               Part(33, 1, {"event": "rejected", **order_summary(client_order_id="vec-buy-0003",
                                                                  journal_key="vec-buy-0003", state="rejected",
                                                                  qty=100000, message="[RC4025] 모의투자 주문가능금액을 "
                                                                  "확인하세요.", error_code=None),
                            "message": "[RC4025] 모의투자 주문가능금액을 확인하세요."})),
        router("stream", "error-after-parts", "ERROR Overloaded ending a TR stream after some PARTs",
               ErrorReply.from_exception(34, errors.Overloaded("too many replies unread; the stream was stopped",
                                                               details={"unread": 1000}))),
    ]
    return stream


def _errors() -> List[Dict[str, Any]]:
    """One ERROR reply per error kind of koabus.common.errors, with the details the broker gives."""
    e = errors
    cases = [
        (e.KoabusError("RuntimeError: unexpected failure"), {}),
        (e.ProtocolError("REQUEST.op is 65 characters long; the limit is 64"), {"limit": 64}),
        (e.MessageTooLarge("body of 2097171 bytes exceeds the limit of 1048576"), {"size": 2097171, "limit": 1048576}),
        (e.VersionMismatch("protocol version 2 is not supported"), {"supported": [1]}),
        (e.InvalidRequest("unknown TR input '종목'"), {"valid": ["종목코드", "기준일자", "수정주가구분"]}),
        (e.NotFound("no TR opt99999"), {}),
        (e.Forbidden("order needs role trade"), {"op": "order", "role_needed": "trade", "role": "read",
                                                 "key": "dashboard"}),
        (e.KiwoomError(-308, "주문전송 과부하"), {}),
        (e.RiskRejected("order value 7,700,000,000 exceeds the limit 100,000,000"), {"limit": 100000000}),
        (e.DuplicateOrder("client_order_id vec-buy-0001 is already used for another order"),
         {"client_order_id": "vec-buy-0001"}),
        (e.Unavailable("orders are being reconciled"), {"reconciling": True}),
        (e.JournalUnavailable("the order journal could not be written; the order was not sent"), {}),
        (e.OrderInDoubt("the order may have reached the server but is not found there"),
         {"client_order_id": "vec-buy-0004", "sent_ns": RECV_NS}),
        (e.Timeout("deadline of 500 ms passed"), {"deadline_ms": 500}),
        (e.Cancelled("cancelled by the client"), {}),
        (e.Overloaded("4 snapshots in progress"), {"limit": 4}),
    ]
    out = []
    for rid, (exc, details) in enumerate(cases, start=100):
        exc.details.update(details)
        slug = "".join(f"-{c.lower()}" if c.isupper() else c for c in exc.kind).lstrip("-")
        out.append(router("error", f"error-{slug}", f"ERROR {exc.kind} for request {rid}",
                          ErrorReply.from_exception(rid, exc)))
    return out


def realtime_values(type_name: str) -> Dict[str, Any]:
    """Typed values of a realtime type from sample raw text per value kind (the shape every type has)."""
    from koabus.metadata.catalog import catalog
    from koabus.services.broker.decoding import FieldTable

    samples = {"price": "+75000", "signed": "-120", "int": "1234", "float": "-0.16", "time": "090512",
               "maybe_time": "090000", "date": "20261203", "str": "2", "code": "005930"}
    cat = catalog()
    table = FieldTable(cat.realtype(type_name).fids, cat)
    raws = [samples[cat.fid(fid).kind] if cat.has_fid(fid) else "0" for fid in table.fids]
    values, bad = table.decode(raws)
    if bad:
        raise AssertionError(f"{bad} {type_name} fields did not parse")
    return values


def _pubs() -> List[Dict[str, Any]]:
    from koabus.metadata.catalog import catalog

    seq = iter(range(18300, 19000))

    def p(name: str, description: str, topic: str, kind: str, body: Dict[str, Any],
          event_ns: Optional[int] = None, topic_seq: int = 1) -> Dict[str, Any]:
        return pub("pub", name, description, Publication(topic, kind, EPOCH, next(seq), topic_seq, event_ns,
                                                         RECV_NS + 5_000_000, body))

    falling = {11: "-1200", 12: "-1.53", 10: "-77000", 16: "+78500", 17: "+78700", 25: "5", 15: "-120"}
    out = [p("pub-rt-trade-falling", "RT 주식체결 of a falling stock: price still positive, change and volume "
             "negative (a sell)", "rt.trade.005930", PubType.REALTIME,
             {"type": "주식체결", "code": "005930", "values": trade_values(falling)}, EVENT_NS, 413)]
    for rt in catalog().realtypes():
        if rt.name in ("주식체결", "주문체결", "현물잔고", "파생잔고"):
            continue  # the trade is above; the three chejan realtypes travel as CHEJAN
        code = "001" if rt.slug in ("index", "index_breadth") else "_" if rt.slug == "market_status" else "005930"
        out.append(p(f"pub-rt-{rt.slug.replace('_', '-')}", f"RT {rt.name} ({rt.slug}) with every FID of the type",
                     f"rt.{rt.slug}.{code}", PubType.REALTIME,
                     {"type": rt.name, "code": code, "values": realtime_values(rt.name)}, EVENT_NS))
    out += [
        p("pub-chejan-order", "CHEJAN gubun 0: a 체결 of the vector's order; typed values and the raw strings",
          f"ch.{ACCOUNT}.order", PubType.CHEJAN,
          {"gubun": "0", "account": ACCOUNT, "code": "005930", "order_no": "0012345",
           "client_order_id": "vec-buy-0001", "values": chejan_values("0", FILL_RAW),
           "raw": {str(fid): value for fid, value in FILL_RAW.items()}}, EVENT_NS, 3),
        p("pub-chejan-balance", "CHEJAN gubun 1: the stock balance after the fill; client_order_id nil",
          f"ch.{ACCOUNT}.balance", PubType.CHEJAN,
          {"gubun": "1", "account": ACCOUNT, "code": "005930", "order_no": None, "client_order_id": None,
           "values": chejan_values("1", BALANCE_RAW),
           "raw": {str(fid): value for fid, value in BALANCE_RAW.items()}}, EVENT_NS, 2),
        p("pub-chejan-fo-balance", "CHEJAN gubun 4: a derivatives balance (futures prices with decimals)",
          "ch.7000000011.fo_balance", PubType.CHEJAN,
          {"gubun": "4", "account": "7000000011", "code": "101W3000", "order_no": None, "client_order_id": None,
           "values": chejan_values("4", FO_BALANCE_RAW),
           "raw": {str(fid): value for fid, value in FO_BALANCE_RAW.items()}}),
        p("pub-cond-in", "COND: 005930 entered realtime condition 0", "cond.0", PubType.CONDITION,
          {"index": 0, "name": "거래량급증", "code": "005930", "kind": "I"}),
        p("pub-cond-out", "COND: 000660 left realtime condition 0", "cond.0", PubType.CONDITION,
          {"index": 0, "name": "거래량급증", "code": "000660", "kind": "D"}, topic_seq=2),
        p("pub-sys-conn-disconnected", "SYS sys.conn: the control lost its connection (negative code)", "sys.conn",
          PubType.SYSTEM, {"state": "disconnected", "code": -106, "message": "통신 연결 종료"}),
        p("pub-sys-conn-restored", "SYS sys.conn: registrations restored after a re-login", "sys.conn",
          PubType.SYSTEM, {"state": "restored", "code": 0, "message": "registrations restored", "restored": 4},
          topic_seq=2),
        p("pub-sys-throttle", "SYS sys.throttle: the TR budget starts holding calls back", "sys.throttle",
          PubType.SYSTEM, {"state": "start", "kind": "tr", "queue_depth": 12, "wait_s": 3.6}),
        p("pub-sys-msg", "SYS sys.msg: a server message not tied to a request", "sys.msg", PubType.SYSTEM,
          {"screen": "0101", "rq_name": "", "tr_code": "", "message": "[00Z218] 모의투자 장종료 되었습니다."}),
        p("pub-sys-reject", "SYS sys.reject: an order the server refused", "sys.reject", PubType.SYSTEM,
          {"account": ACCOUNT, "code": "005930", "side": "buy", "qty": 100000, "price": 77000,
           "client_order_id": "vec-buy-0003", "order_no": "", "code_msg": "RC4025",
           "message": "[RC4025] 모의투자 주문가능금액을 확인하세요."}),
        p("pub-sys-status", "SYS sys.status: the periodic status copy (summary form)", "sys.status",
          PubType.SYSTEM, status_result()),
        p("pub-hb-service", "HB sys.hb.recorder: another service's heartbeat on its own PUB, with lag and an error",
          "sys.hb.recorder", PubType.HEARTBEAT,
          {"service": "recorder", "pid": 5120, "host": "trading-pc", "state": "running", "uptime_s": 86.5,
           "interval_ms": 1000, "lag_s": 0.125, "last_error": "flush failed: disk full", "time_ns": RECV_NS}),
        p("pub-bar-1m", "BAR bar.1m.005930 on the bars service's PUB", "bar.1m.005930", PubType.BAR,
          {"code": "005930", "interval": "1m", "start": EVENT_NS - 12_000_000_000, "end": EVENT_NS + 48_000_000_000,
           "open": 76900, "high": 77000, "low": 76800, "close": 77000, "volume": 5231, "value": 402640100,
           "trades": 87, "final": True, "carried": False}, EVENT_NS),
        p("pub-alert", "ALERT alert.samsung-above-75k on the alerting service's PUB", "alert.samsung-above-75k",
          PubType.ALERT,
          {"rule": "samsung-above-75k", "kind": "threshold", "severity": "info", "title": "삼성전자 75,000 돌파",
           "text": "삼성전자 005930 traded at 77,000", "code": "005930", "time_ns": EVENT_NS,
           "dedup_key": "samsung-above-75k:005930:2026-12-03", "values": {"current_price": 77000, "above": 75000},
           "notify": ["desktop"]}, EVENT_NS),
    ]
    out.append(_batch())
    out.append(_positional_batch())
    return out


def _batch_trades() -> List[Publication]:
    return [Publication("rt.trade.005930", PubType.REALTIME, EPOCH, 18420, 414, EVENT_NS, RECV_NS + 6_000_000,
                          {"type": "주식체결", "code": "005930", "values": trade_values()}),
              Publication("rt.trade.000660", PubType.REALTIME, EPOCH, 18421, 378, EVENT_NS, RECV_NS + 6_000_900,
                          {"type": "주식체결", "code": "000660",
                           "values": trade_values({10: "-178500", 11: "-2500", 12: "-1.38", 25: "5"})})]


def _batch() -> Dict[str, Any]:
    """RTB: two trades in one batch, built by the broker's BatchBuilder from their own frames."""
    from koabus.common.protocol.batch import BatchBuilder

    trades = _batch_trades()
    builder = BatchBuilder()
    for t in trades:
        builder.add(*t.to_frames(), t.seq)
    (frames,) = builder.close(EPOCH, RECV_NS + 7_000_000)
    batch = Publication.from_frames(frames)
    if batch.to_frames() != frames:
        raise AssertionError("pub-rt-batch: BatchBuilder and Publication.to_frames disagree")
    return pub("pub", "pub-rt-batch", "RTB rtb.trade: two RT publications in one batch (opt-in, §4.3); "
               "the batch's seq is its last item's, its topic_seq counts batches", batch)


def _positional_batch() -> Dict[str, Any]:
    """RTP: the same two trades in a positional batch, built as the broker builds it (§4.4)."""
    from koabus.common.protocol.batch import PositionalBatchBuilder, unbatch
    from koabus.common.protocol.publication import PublicationEncoder

    trades = _batch_trades()
    builder, encode = PositionalBatchBuilder(), PublicationEncoder()
    for t in trades:
        topic, envelope, _body = t.to_frames()
        values = t.body["values"]
        builder.add(topic, envelope, t.body["type"], tuple(values), encode.body([t.body["code"], list(values.values())]),
                    t.seq)
    (frames,) = builder.close(EPOCH, RECV_NS + 7_000_000)
    batch = Publication.from_frames(frames)
    if batch.to_frames() != frames or unbatch(batch) != trades:
        raise AssertionError("pub-rt-positional: the batch does not stand for the keyed publications")
    return pub("pub", "pub-rt-positional", "RTP rtp.trade: the RTB batch's two trades with their values as arrays "
               "in the order of `fields` (opt-in, §4.4); item i is the RT publication whose body is "
               "{type, code, values: {fields[k]: values[k]}}", batch)


def _snapshot() -> List[Dict[str, Any]]:
    first = Publication("rt.trade.000660", PubType.REALTIME, EPOCH, 18229, 377, EVENT_NS - 1_000_000_000,
                        RECV_NS - 1_000_000_000, {"type": "주식체결", "code": "000660",
                                                  "values": trade_values({10: "-178500", 11: "-2500", 12: "-1.38",
                                                                          25: "5"})})
    second = Publication("rt.trade.005930", PubType.REALTIME, EPOCH, 18231, 412, EVENT_NS, RECV_NS,
                         {"type": "주식체결", "code": "005930", "values": trade_values()})
    return [
        router("snapshot", "snapshot-request", "REQUEST snapshot of prefix rt.trade. (after the SUB is subscribed)",
               Request(30, "snapshot", {"prefix": "rt.trade."})),
        router("snapshot", "snapshot-part-0", "PART n=0: a cached publication as a map (its topic inside, since "
               "a PART has no topic frame)", Part(30, 0, first.to_dict())),
        router("snapshot", "snapshot-part-1", "PART n=1: the next cached topic", Part(30, 1, second.to_dict())),
        router("snapshot", "snapshot-end", "END after 2 parts: the epoch and the publication seq the snapshot is at",
               End(30, 2, {"epoch": EPOCH, "seq": 18231})),
    ]


def _bad(obj: Any) -> bytes:
    """msgpack of anything, bypassing the codec's checks (for frames that must be refused)."""
    import msgpack

    return msgpack.packb(obj, use_bin_type=True)


def _invalid() -> List[Dict[str, Any]]:
    env = lambda rid, kind="REQUEST", version=1: _bad([version, kind, rid])  # noqa: E731
    status = pack({"op": "status", "args": {}})
    timestamp = b"\xd6\xff\x6a\x6e\x8a\x80"  # msgpack timestamp 32 (ext type -1): 2026-07-01
    deep: Dict[str, Any] = {}
    node = deep
    for _ in range(16):
        node["x"] = {}
        node = node["x"]
    pub_env = [1, "RT", EPOCH, 18231, 412, EVENT_NS, RECV_NS]
    pub_body = pack({"type": "주식체결", "code": "005930", "values": {"current_price": 77000}})
    return [
        invalid("invalid-one-frame", "a single frame: request id unknown", [b"garbage"], "ProtocolError", None),
        invalid("invalid-envelope-two-items", "envelope [1, \"REQUEST\"] lacks the request id",
                [_bad([1, "REQUEST"]), status], "ProtocolError", None),
        invalid("invalid-envelope-not-array", "envelope is a map", [_bad({"type": "REQUEST"}), status],
                "ProtocolError", None),
        invalid("invalid-request-id-negative", "request id -1", [env(-1), status], "ProtocolError", None),
        invalid("invalid-request-id-2p63", "request id 2^63 (uint64) is out of range", [env(1 << 63), status],
                "ProtocolError", None),
        invalid("invalid-request-id-bool", "request id true is not an integer", [env(True), status],
                "ProtocolError", None),
        invalid("invalid-version-2", "version 2 is not spoken", [env(6, version=2), status], "VersionMismatch", 6),
        invalid("invalid-version-string", "version \"1\" is not an integer", [env(6, version="1"), status],
                "ProtocolError", 6),
        invalid("invalid-unknown-type", "unknown message type EXPLODE", [env(7, "EXPLODE"), pack({})],
                "ProtocolError", 7),
        invalid("invalid-broker-type-to-broker", "a REPLY sent to the broker", [env(7, "REPLY"), pack({})],
                "ProtocolError", 7),
        invalid("invalid-body-not-map", "body is an array", [env(5), _bad([1, 2])], "ProtocolError", 5),
        invalid("invalid-body-empty-frame", "body frame of zero bytes", [env(5), b""], "ProtocolError", 5),
        invalid("invalid-body-not-msgpack", "body byte 0xc1", [env(5), b"\xc1"], "ProtocolError", 5),
        invalid("invalid-body-truncated", "body map of 2 pairs holding one", [env(5), b"\x82\xa2op\xa6status"],
                "ProtocolError", 5),
        invalid("invalid-op-missing", "REQUEST without op", [env(8), pack({"args": {}})], "ProtocolError", 8),
        invalid("invalid-op-not-string", "REQUEST.op 42", [env(8), pack({"op": 42})], "ProtocolError", 8),
        invalid("invalid-op-too-long", "REQUEST.op of 65 characters", [env(8), pack({"op": "s" * 65})],
                "ProtocolError", 8),
        invalid("invalid-idem-key-too-long", "REQUEST.idem_key of 129 characters",
                [env(8), pack({"op": "status", "idem_key": "k" * 129})], "ProtocolError", 8),
        invalid("invalid-args-not-map", "REQUEST.args is a list", [env(8), pack({"op": "status", "args": []})],
                "ProtocolError", 8),
        invalid("invalid-args-int-key", "REQUEST.args with an integer key",
                [env(8), _bad({"op": "status", "args": {1: "x"}})], "ProtocolError", 8),
        invalid("invalid-args-key-too-long", "a key of 65 characters inside args",
                [env(8), pack({"op": "tr", "args": {"inputs": {"k" * 65: "1"}}})], "ProtocolError", 8),
        invalid("invalid-args-text-too-long", "a text value of 4097 characters inside args",
                [env(8), pack({"op": "tr", "args": {"code": "x" * 4097}})], "ProtocolError", 8),
        invalid("invalid-args-too-deep", "args nested 17 levels", [env(8), pack({"op": "status", "args": deep})],
                "ProtocolError", 8),
        invalid("invalid-deadline-zero", "REQUEST.deadline_ms 0", [env(8), pack({"op": "status", "deadline_ms": 0})],
                "ProtocolError", 8),
        invalid("invalid-deadline-bool", "REQUEST.deadline_ms true",
                [env(8), pack({"op": "status", "deadline_ms": True})], "ProtocolError", 8),
        invalid("invalid-hello-versions-not-int", "HELLO.versions [\"1\"]",
                [env(1, "HELLO"), pack({"versions": ["1"]})], "ProtocolError", 1),
        invalid("invalid-hello-client-too-long", "HELLO.client of 65 characters",
                [env(1, "HELLO"), pack({"versions": [1], "client": "c" * 65})], "ProtocolError", 1),
        invalid("invalid-ext-timestamp-in-args", "a msgpack timestamp extension as a call argument",
                [env(12), pack({"op": "call", "args": {"method": "GetMasterCodeName", "args": []}})[:-1]
                 + b"\x91" + timestamp], "ProtocolError", 12),
        invalid("invalid-ext-under-unknown-key", "a msgpack extension under a body key the broker ignores",
                [env(12), b"\x82\xa2op\xa6status\xa5extra" + timestamp], "ProtocolError", 12),
        invalid("invalid-ext-fixext1", "a one-byte extension of type 1 as the body", [env(13), b"\xd4\x01\x00"],
                "ProtocolError", 13),
        invalid("invalid-three-frames", "three frames with a readable envelope: the spec answers with its id",
                [env(12), status, b"extra"], "ProtocolError", 12),
        # -- from the broker: what a client's decoder must refuse
        invalid("invalid-reply-ext", "a REPLY whose result holds a timestamp extension",
                [env(7, "REPLY"), b"\x81\xa6result" + timestamp], "ProtocolError", 7),
        invalid("invalid-pub-two-frames", "a publication without its body frame",
                [b"rt.trade.005930", _bad(pub_env)], "ProtocolError", None, channel="pub"),
        invalid("invalid-pub-topic-not-ascii", "topic bytes that are not ASCII",
                ["rt.trade.삼성".encode(), _bad(pub_env), pub_body], "ProtocolError", None, channel="pub"),
        invalid("invalid-pub-envelope-six-items", "envelope without recv_ns",
                [b"rt.trade.005930", _bad(pub_env[:6]), pub_body], "ProtocolError", None, channel="pub"),
        invalid("invalid-pub-unknown-type", "publication type TICK is not defined",
                [b"rt.trade.005930", _bad([1, "TICK", *pub_env[2:]]), pub_body], "ProtocolError", None,
                channel="pub"),
        invalid("invalid-pub-version-2", "publication of version 2",
                [b"rt.trade.005930", _bad([2, *pub_env[1:]]), pub_body], "VersionMismatch", None, channel="pub"),
        invalid("invalid-pub-seq-negative", "seq -1",
                [b"rt.trade.005930", _bad([*pub_env[:3], -1, *pub_env[4:]]), pub_body], "ProtocolError", None,
                channel="pub"),
        invalid("invalid-pub-event-ns-text", "event_ns as text",
                [b"rt.trade.005930", _bad([*pub_env[:5], "09:05:12", pub_env[6]]), pub_body], "ProtocolError",
                None, channel="pub"),
        invalid("invalid-pub-body-not-map", "body is an array",
                [b"rt.trade.005930", _bad(pub_env), _bad([77000])], "ProtocolError", None, channel="pub"),
        invalid("invalid-pub-body-ext", "body holding a timestamp extension",
                [b"rt.trade.005930", _bad(pub_env), b"\x81\xa4time" + timestamp], "ProtocolError", None,
                channel="pub"),
    ]


# -- files -------------------------------------------------------------------------------------------

def render(vector: Dict[str, Any]) -> str:
    """One vector file: sorted keys, two-space indent, UTF-8 text, trailing newline."""
    return json.dumps(vector, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def expected_files(vectors: Optional[List[Dict[str, Any]]] = None) -> Dict[str, str]:
    """Relative path -> file text for every vector; names must be unique."""
    out: Dict[str, str] = {}
    for vector in build() if vectors is None else vectors:
        if vector["category"] not in CATEGORIES:
            raise ValueError(f"unknown category {vector['category']!r}")
        path = f"{vector['category']}/{vector['name']}.json"
        if path in out or any(p.endswith(f"/{vector['name']}.json") for p in out):
            raise ValueError(f"duplicate vector name {vector['name']!r}")
        out[path] = render(vector)
    return out


def files_on_disk(root: Path = VECTORS_DIR) -> Dict[str, str]:
    found: Dict[str, str] = {}
    for category in CATEGORIES:
        for path in sorted((root / category).glob("*.json")):
            found[f"{category}/{path.name}"] = path.read_text(encoding="utf-8")
    return found


def differences(root: Path = VECTORS_DIR) -> List[str]:
    """What differs between the files under `root` and what the code produces (empty: in sync)."""
    want, have = expected_files(), files_on_disk(root)
    out = [f"missing: {p}" for p in sorted(set(want) - set(have))]
    out += [f"stale: {p}" for p in sorted(set(have) - set(want))]
    out += [f"differs: {p}" for p in sorted(set(want) & set(have)) if want[p] != have[p]]
    return out


def write(root: Path = VECTORS_DIR) -> int:
    want = expected_files()
    for path in set(files_on_disk(root)) - set(want):
        (root / path).unlink()
    for path, text in want.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
    return len(want)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ from the code")
    args = parser.parse_args(argv)
    if args.check:
        diff = differences()
        for line in diff:
            print(line)
        return 1 if diff else 0
    print(f"wrote {write()} vectors under {VECTORS_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
