'use strict';
/**
 * Node client figures for `make bench`, printed as one JSON object:
 * - decode: realtime publications parsed per second (parsePublication on the rt.* vectors' frames,
 *   in process: the subscriber's CPU cost per event, without the network);
 * - sub: events/s a Subscriber decodes from a local zeromq PUB blasting those frames over loopback;
 * - broker_sub (with KOABUS_ROUTER and KOABUS_PUB set): events/s a Subscriber decodes from a real
 *   broker's PUB for --seconds, after a `subscribe` of KOABUS_CODES (comma-separated) to trades, with
 *   the broker's own publication count over the same window (status.seq) as the offered rate;
 * - request round trip (median, p99, µs) of `status` against KOABUS_ROUTER, when it is set.
 *   node bench.js [--events N] [--requests N] [--seconds S]
 * bench/bench_clients.py runs it next to the Python SDK against one broker.
 */
const fs = require('fs');
const path = require('path');
const zmq = require('zeromq');
const { Client, Subscriber, parsePublication } = require('./src');

const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? Number(process.argv[i + 1]) : dflt; };
const EVENTS = arg('--events', 200000);
const REQUESTS = arg('--requests', 2000);
const SECONDS = arg('--seconds', 5);
const VECTORS = process.env.KOABUS_VECTORS || path.resolve(__dirname, '..', '..', 'tests', 'vectors');

function realtimeFrames() {
  const dir = path.join(VECTORS, 'pub');
  const frames = fs.readdirSync(dir).filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')))
    .filter((v) => v.valid && v.decoded.topic.startsWith('rt.'))
    .map((v) => v.frames_hex.map((h) => Buffer.from(h, 'hex')));
  if (!frames.length) throw new Error(`no rt.* vectors under ${dir}`);
  return frames;
}

function benchDecode(frames) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < EVENTS; i++) parsePublication(frames[i % frames.length]);
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  return { events: EVENTS, seconds: s, events_per_s: Math.round(EVENTS / s) };
}

async function benchSub(frames) {
  const pub = new zmq.Publisher({ linger: 0, sendHighWaterMark: 0 });
  await pub.bind('tcp://127.0.0.1:*');
  let count = 0;
  let warm = false;
  const OFFSET = 1000000; // measured messages: seq from here; warm-up ones below
  let resolveDone;
  const done = new Promise((r) => { resolveDone = r; });
  const sub = new Subscriber(pub.lastEndpoint, { onMessage: (m) => { if (m.seq < OFFSET) { warm = true; return; } count += 1; if (count >= EVENTS) resolveDone(); } });
  sub.connect();
  sub.subscribe('rt.');
  // the slow joiner: send until the first one arrives (seq/topic_seq rewritten so nothing looks stale)
  const { encodeFrame, decodeFrame } = require('./src');
  const make = (i) => {
    const [topic, env, body] = frames[i % frames.length];
    const e = decodeFrame(env);
    return [topic, encodeFrame([e[0], e[1], 1, i + 1, i + 1, e[5], e[6]]), body];
  };
  const prepared = Array.from({ length: EVENTS }, (_, i) => make(OFFSET + i));
  for (let i = 0; i < 500 && !warm; i++) { await pub.send(make(i)); await new Promise((r) => setTimeout(r, 5)); }
  const start = process.hrtime.bigint();
  const sending = (async () => { for (const m of prepared) { if (count >= EVENTS) break; await pub.send(m); } })();
  await Promise.race([done, new Promise((r) => setTimeout(r, 60000))]);
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  await sending;
  sub.close();
  pub.close();
  return { events: count, seconds: s, events_per_s: Math.round(count / s) };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function benchBrokerSub() {
  if (!process.env.KOABUS_ROUTER || !process.env.KOABUS_PUB) return null;
  const codes = (process.env.KOABUS_CODES || '005930').split(',').filter(Boolean);
  const client = new Client(process.env.KOABUS_ROUTER, { name: 'node-bench-sub' });
  const welcome = await client.connect();
  let count = 0;
  let gaps = 0;
  let counting = false;
  const sub = new Subscriber(process.env.KOABUS_PUB, {
    heartbeatMs: welcome.heartbeat_ms,
    onMessage: (pub, { gap }) => { if (counting) { count += 1; gaps += gap; } },
  });
  sub.connect();
  sub.subscribe('rt.trade.');
  const pinger = setInterval(() => client.ping().catch(() => {}), welcome.heartbeat_ms);
  try {
    await client.request('subscribe', { codes, types: ['trade'] });
    await sleep(1000); // warm-up: the SUB is live and the stream is flowing
    const before = await client.request('status');
    counting = true;
    const start = process.hrtime.bigint();
    await sleep(SECONDS * 1000);
    counting = false;
    const s = Number(process.hrtime.bigint() - start) / 1e9;
    const after = await client.request('status');
    await client.request('unsubscribe', { codes, types: ['trade'] });
    const published = Number(after.seq) - Number(before.seq);
    return { events: count, seconds: s, events_per_s: Math.round(count / s), gaps,
      published, published_per_s: Math.round(published / s) };
  } finally {
    clearInterval(pinger);
    sub.close();
    await client.close();
  }
}

async function benchRequests() {
  if (!process.env.KOABUS_ROUTER) return null;
  const client = new Client(process.env.KOABUS_ROUTER, { name: 'node-bench' });
  await client.connect();
  const times = [];
  for (let i = 0; i < REQUESTS; i++) {
    const t = process.hrtime.bigint();
    await client.request('status');
    times.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  await client.close();
  times.sort((a, b) => a - b);
  return { requests: REQUESTS, median_us: Math.round(times[times.length >> 1]),
    p99_us: Math.round(times[Math.floor(times.length * 0.99)]) };
}

(async () => {
  const frames = realtimeFrames();
  const out = { node: process.version, decode: benchDecode(frames), sub: await benchSub(frames),
    broker_sub: await benchBrokerSub(), request_round_trip: await benchRequests() };
  console.log(JSON.stringify(out, null, 1));
})().catch((exc) => { console.error(exc); process.exit(1); });
