"""PostgreSQL sink write rate: 100k rt_trade rows (to_arrow of realistic publications) COPYed in one batch.

Needs the server on 127.0.0.1:5432 (trust auth, user postgres); works in a scratch database it drops.
Also times psycopg's per-row `write_row` (binary COPY) on the same rows, the path the sink does not take,
so the choice of CSV made by pyarrow stays justified by a number.
"""
from __future__ import annotations

import os
import random
import secrets
import time
from typing import Any, Dict, List

ROWS = 100_000
SERVER_DSN = "host=127.0.0.1 port=5432 user=postgres"


def trade_rows(count: int):
    """`count` rt_trade rows as the recorder builds them: broker-decoded values through to_arrow."""
    from koabus.common.lake.schema import to_arrow
    from koabus.common.protocol.publication import Publication
    from koabus.metadata.catalog import catalog
    from koabus.services.broker.decoding import FieldTable

    rt = catalog().realtype("trade")
    table = FieldTable(rt.fids, catalog())
    rng = random.Random(5)
    base = table.decode(["+70000" if catalog().fid(f).kind in ("price", "int", "signed") else
                         "1.25" if catalog().fid(f).kind == "float" else
                         "090000" if "time" in catalog().fid(f).kind else "+" for f in rt.fids])[0]
    start_ns = 1764720000_000_000_000
    pubs: List[Publication] = []
    for seq in range(1, count + 1):
        values = dict(base, current_price=70000 + rng.randrange(-50, 50) * 100, volume=rng.randint(-500, 500),
                      trade_time=f"09:{(seq // 60) % 60:02d}:{seq % 60:02d}")
        recv = start_ns + seq * 1_000_003
        pubs.append(Publication(f"rt.trade.{'005930' if seq % 2 else '000660'}", "RT", 1, seq, seq // 2,
                                recv - 500, recv, {"type": rt.name, "code": "005930", "values": values}))
    return to_arrow("rt_trade", pubs)


def run() -> Dict[str, Any]:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    from koabus.services.recorder.sinks.postgres import PostgresSink, pg_type

    server = os.environ.get("KOABUS_BENCH_PG_DSN", SERVER_DSN)
    name = f"koabus_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(make_conninfo(server, dbname="postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = make_conninfo(server, dbname=name)
    try:
        batch = trade_rows(ROWS)
        sink = PostgresSink(dsn)
        sink.write("rt_trade", "2025-12-03", batch.slice(0, 100), "warmup")  # creates the table
        t0 = time.perf_counter()
        sink.write("rt_trade", "2025-12-03", batch, "b1")
        first_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        sink.write("rt_trade", "2025-12-03", batch, "b1")  # a re-roll: delete the key's rows, copy again
        replace_s = time.perf_counter() - t0
        sink.close()

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE koabus.plain (LIKE koabus.rt_trade)")
            conn.execute("ALTER TABLE koabus.plain DROP COLUMN date, DROP COLUMN _batch")
            t0 = time.perf_counter()
            rows = list(zip(*[column.to_pylist() for column in batch.columns]))
            query = sql.SQL("COPY koabus.plain ({}) FROM STDIN (FORMAT binary)").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in batch.column_names))
            with conn.transaction(), conn.cursor() as cur, cur.copy(query) as copy:
                copy.set_types([pg_type(f.type) for f in batch.schema])
                for row in rows:
                    copy.write_row(row)
            write_row_s = time.perf_counter() - t0
    finally:
        with psycopg.connect(make_conninfo(server, dbname="postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    return {
        "rows": ROWS,
        "columns": batch.num_columns,
        "copy_csv_rows_per_s": round(ROWS / first_s),
        "copy_csv_replace_rows_per_s": round(ROWS / replace_s),
        "write_row_binary_rows_per_s": round(ROWS / write_row_s),
    }


if __name__ == "__main__":
    print(run())
