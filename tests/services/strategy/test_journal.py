"""The per-day order-id journal: deterministic ids, durable before use, continued after a restart."""
from __future__ import annotations

from datetime import date

from koabus.services.strategy.journal import OrderJournal

DAY = date(2024, 3, 6)


def test_ids_are_name_date_counter_and_a_restart_continues_the_counter(tmp_path):
    journal = OrderJournal(str(tmp_path), "macross", DAY)
    first = journal.allocate("buy", "005930", 10, 0, "03", 1.0)
    second = journal.allocate("sell", "005930", 10, 70_000, "00", 2.0)
    assert (first.id, second.id) == ("macross-20240306-000001", "macross-20240306-000002")
    journal.abandon(first.id, 3.0)
    journal.fill("0000002", "0000009", -1_234, 4.0)
    journal.fill("0000002", "0000009", -1_234, 4.0)  # counted once
    # no close(): what is on disk when allocate() returned is all a killed process leaves
    again = OrderJournal(str(tmp_path), "macross", DAY)
    assert [o.id for o in again.unsettled()] == [second.id]
    assert again.orders[second.id].to_request() == {"side": "sell", "code": "005930", "qty": 10, "price": 70_000,
                                                   "hoga": "00"}
    assert again.realised == -1_234
    assert again.allocate("buy", "005930", 1, 0, "03", 5.0).id == "macross-20240306-000003"
    assert OrderJournal(str(tmp_path), "macross", date(2024, 3, 7)).next_n == 1  # a new day starts at 1
    assert OrderJournal(str(tmp_path), "other", DAY).next_n == 1


def test_a_torn_last_line_is_skipped_and_the_next_record_starts_on_its_own_line(tmp_path):
    journal = OrderJournal(str(tmp_path), "s", DAY)
    journal.allocate("buy", "005930", 1, 0, "03", 1.0)
    journal.close()
    with open(journal.path, "a", encoding="utf-8") as f:
        f.write('{"rec": "order", "id": "s-20240306-0000')  # a crash mid-write
    again = OrderJournal(str(tmp_path), "s", DAY)
    assert again.torn == 1
    assert again.allocate("buy", "005930", 1, 0, "03", 2.0).n == 2
    again.close()
    final = OrderJournal(str(tmp_path), "s", DAY)
    assert final.torn == 1 and sorted(o.n for o in final.orders.values()) == [1, 2]
