'use strict';
/**
 * Subscribe to trades with a late-join snapshot and gap detection:
 *   node examples/subscribe.js 005930 000660
 * Endpoints from KOABUS_ROUTER / KOABUS_PUB (default the broker's loopback ports). Ctrl-C stops it.
 */
const { Client, Subscriber } = require('../src');

const ROUTER = process.env.KOABUS_ROUTER || 'tcp://127.0.0.1:5570';
const PUB = process.env.KOABUS_PUB || 'tcp://127.0.0.1:5571';
const codes = process.argv.slice(2).length ? process.argv.slice(2) : ['005930'];

async function main() {
  const client = new Client(ROUTER, { name: 'example-subscribe' });
  const welcome = await client.connect();
  console.log(`connected: epoch ${welcome.epoch}, heartbeat ${welcome.heartbeat_ms} ms`);
  let sub;
  const resync = new Set();
  sub = new Subscriber(PUB, {
    onMessage: (pub, { source, gap }) => {
      const v = pub.body.values;
      console.log(`${source.padEnd(8)} ${pub.topic} seq=${pub.seq} topic_seq=${pub.topicSeq} `
        + `${v.trade_time} ${v.current_price} x ${v.volume}`);
      if (gap > 0 && !resync.has(pub.topic)) { // lost messages: take a fresh snapshot of that topic
        console.log(`gap: ${gap} message(s) of ${pub.topic} lost; resynchronising`);
        resync.add(pub.topic);
        sub.sync(pub.topic, client).finally(() => resync.delete(pub.topic));
      }
    },
    heartbeatMs: welcome.heartbeat_ms,
    onSilence: (ms) => { // no heartbeat for three periods: presume the broker dead (§8)
      console.log(`broker silent for ${ms} ms; run again once it is back`);
      process.exitCode = 1;
      shutdown();
    },
    onEpoch: (epoch) => { // the broker restarted: subscriptions are gone (docs/protocol.md §6)
      console.log(`new epoch ${epoch}: the broker restarted; run again`);
      process.exitCode = 1;
      shutdown();
    },
  });
  sub.connect();
  const { topics } = await client.request('subscribe', { codes, types: ['trade'] });
  for (const topic of topics) await sub.sync(topic, client); // snapshot, then the buffered, then live
  // any message keeps the session alive; PING at the heartbeat period while subscribed (§8)
  const pinger = setInterval(() => client.ping().catch(() => {}), welcome.heartbeat_ms);
  async function shutdown() {
    clearInterval(pinger);
    sub.close();
    await client.close();
  }
  process.once('SIGINT', shutdown);
}

main().catch((exc) => { console.error(exc); process.exit(1); });
