'use strict';
/**
 * Node client figures for `make bench`, printed as one JSON object:
 * - decode: realtime publications parsed per second (parsePublication on the rt.* vectors' frames,
 *   in process: the subscriber's CPU cost per event, without the network);
 * - sub: events/s a Subscriber decodes from a local zeromq PUB blasting those frames over loopback;
 * - request round trip (median, p99, µs) of `status` against KOABUS_ROUTER, when it is set.
 *   node bench.js [--events N] [--requests N]
 */
const fs = require('fs');
const path = require('path');
const zmq = require('zeromq');
const { Client, Subscriber, parsePublication } = require('./src');

const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? Number(process.argv[i + 1]) : dflt; };
const EVENTS = arg('--events', 200000);
const REQUESTS = arg('--requests', 2000);
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
    request_round_trip: await benchRequests() };
  console.log(JSON.stringify(out, null, 1));
})().catch((exc) => { console.error(exc); process.exit(1); });
