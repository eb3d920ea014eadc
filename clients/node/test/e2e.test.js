'use strict';
/**
 * End to end against a running broker (the simulated control in CI): KOABUS_ROUTER / KOABUS_PUB name
 * its endpoints; skipped when they are unset (tests/clients/test_node.py sets them). What it received
 * goes to $KOABUS_E2E_OUT as JSON, so the Python side can compare it with what the broker published.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const { Client, Subscriber, toJsonValue, errors } = require('../src');

const ROUTER = process.env.KOABUS_ROUTER;
const PUB = process.env.KOABUS_PUB;
const CODES = (process.env.KOABUS_E2E_CODES || '005930,000660').split(',');
const MIN_LIVE = Number(process.env.KOABUS_E2E_MIN_LIVE || 20);
const WINDOW_MS = Number(process.env.KOABUS_E2E_WINDOW_MS || 8000);
const skip = !ROUTER || !PUB ? 'KOABUS_ROUTER/KOABUS_PUB not set' : false;

function pubRecord(pub, meta) {
  return toJsonValue({ topic: pub.topic, seq: pub.seq, topic_seq: pub.topicSeq, epoch: pub.epoch,
    source: meta.source, gap: meta.gap, body: pub.body });
}

test('realtime with snapshot, TR paging, order placed and cancelled', { skip, timeout: 60000 }, async () => {
  const report = { live: [], snapshot: [] };
  const client = new Client(ROUTER, { timeoutMs: 15000, name: 'node-e2e' });
  let sub = null;
  try {
    const welcome = await client.connect();
    report.welcome = toJsonValue(welcome);
    assert.equal(welcome.version, 1);

    // realtime: subscribe first, then bring the state up to date (Clone pattern), then live
    let onLive = () => {};
    sub = new Subscriber(PUB, {
      onMessage: (pub, meta) => {
        const rec = pubRecord(pub, meta);
        (meta.source === 'snapshot' ? report.snapshot : report.live).push(rec);
        if (meta.source !== 'snapshot') onLive();
      },
    });
    sub.connect();
    const reply = await client.request('subscribe', { codes: CODES, types: ['trade'] });
    report.topics = reply.topics;
    report.snapshot_end = toJsonValue(await sub.sync('rt.trade.', client));
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, WINDOW_MS);
      onLive = () => { if (report.live.length >= MIN_LIVE) { clearTimeout(timer); resolve(); } };
      onLive();
    });
    onLive = () => {};
    sub.close();
    report.live_done = true;
    report.gaps = sub.gaps;
    assert.ok(report.live.length >= MIN_LIVE, `only ${report.live.length} live trades in ${WINDOW_MS} ms`);

    // TR with paging: one PART per page, numbered from 0
    const tr = await client.tr('opt10081', { 종목코드: CODES[0], 기준일자: '20240305' }, { all_pages: true, max_pages: 3 });
    report.tr = { pages: tr.pages.map((p) => p.page), rows: tr.pages.map((p) => p.multi.length),
      first_rows: tr.pages.map((p) => toJsonValue(p.multi[0])), end: toJsonValue(tr.result) };

    // a typed error
    try {
      await client.stream('tr', { code: 'opt77777', inputs: {} }).collect();
      report.typed_error = null;
    } catch (exc) {
      report.typed_error = { kind: exc.kind, is_not_found: exc instanceof errors.NotFound };
    }

    // an order well below the market (stays open), watched, then cancelled by its client order id
    const accounts = String(await client.request('call', { method: 'GetLoginInfo', args: ['ACCLIST'] }))
      .split(';').filter(Boolean);
    const last = Number(await client.request('call', { method: 'GetMasterLastPrice', args: [CODES[0]] }));
    const price = Math.floor((last * 8) / 10 / 100) * 100;
    const cid = `node-e2e-${process.pid}-${Date.now()}`;
    const order = client.stream('order', { account: accounts[0], side: 'buy', code: CODES[0], qty: 3, price,
      hoga: '00', client_order_id: cid, kind: 'stock' });
    const events = [];
    let cancel = null;
    for await (const event of order) {
      events.push(event.event);
      if (event.event === 'accepted' && cancel === null) {
        cancel = client.stream('cancel_order', { account: accounts[0], client_order_id: cid, qty: 0,
          client_order_id_new: `${cid}-c` }).collect();
      }
    }
    const orderEnd = await order.result;
    const cancelled = await cancel;
    report.order = { account: accounts[0], client_order_id: cid, price, events, end: toJsonValue(orderEnd),
      cancel_events: cancelled.parts.map((p) => p.event), cancel_end: toJsonValue(cancelled.result) };
    assert.equal(orderEnd.state, 'cancelled');
  } finally {
    if (sub && !report.live_done) sub.close();
    await client.close();
    if (process.env.KOABUS_E2E_OUT) fs.writeFileSync(process.env.KOABUS_E2E_OUT, JSON.stringify(report, null, 1));
  }
});
