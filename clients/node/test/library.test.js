'use strict';
/**
 * The library's own behaviour on real loopback sockets, with a stand-in broker made of frames the
 * protocol allows: gaps and epochs on SUB, streams and typed errors on DEALER.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const zmq = require('zeromq');
const { Client, Subscriber, encodeFrame, errors } = require('../src');

const EPOCH = 2n ** 62n + 5n; // beyond 2^53: stays a BigInt

function publication(topic, epoch, seq, topicSeq, body = {}) {
  return [Buffer.from(topic), encodeFrame([1, topic === 'sys.hb' ? 'HB' : 'RT', epoch, seq, topicSeq, null, 1]),
    encodeFrame(body)];
}

async function boundPort(socket) {
  await socket.bind('tcp://127.0.0.1:*');
  return socket.lastEndpoint;
}

test('topic_seq jumps are gaps per topic; a new epoch resets the tracking', async () => {
  const pub = new zmq.Publisher({ linger: 0 });
  const endpoint = await boundPort(pub);
  const seen = [];
  const epochs = [];
  const sub = new Subscriber(endpoint, {
    onMessage: (p, meta) => seen.push([p.topic, Number(p.topicSeq), meta.gap]),
    onEpoch: (epoch, previous) => epochs.push([epoch, previous]),
  });
  sub.connect();
  sub.subscribe('rt.');
  sub.subscribe('sys.hb');
  let live = false;
  sub.handlers.onHeartbeat = () => { live = true; };
  for (let i = 0; i < 200 && !live; i++) { // the slow joiner: beat until the SUB hears one
    await pub.send(publication('sys.hb', EPOCH, i, i));
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(live, 'the SUB never became live');
  const sends = [['rt.trade.A', EPOCH, 1], ['rt.trade.B', EPOCH, 1], ['rt.trade.A', EPOCH, 2],
    ['rt.trade.A', EPOCH, 5], ['rt.trade.B', EPOCH, 2], ['rt.trade.A', EPOCH, 5], ['rt.trade.A', 7n, 1]];
  let seq = 1000;
  for (const [topic, epoch, topicSeq] of sends) await pub.send(publication(topic, epoch, seq++, topicSeq));
  for (let i = 0; i < 200 && seen.length < 6; i++) await new Promise((r) => setTimeout(r, 10));
  sub.close();
  pub.close();
  assert.deepStrictEqual(seen, [['rt.trade.A', 1, 0], ['rt.trade.B', 1, 0], ['rt.trade.A', 2, 0],
    ['rt.trade.A', 5, 2], ['rt.trade.B', 2, 0], ['rt.trade.A', 1, 0]]); // the repeated 5 is dropped
  assert.equal(sub.gaps, 2);
  assert.deepStrictEqual(epochs, [[7, EPOCH]]);
});

test('streams check PART numbering; ERROR becomes its typed class', async () => {
  const router = new zmq.Router({ linger: 0 });
  const endpoint = await boundPort(router);
  const serve = (async () => {
    for await (const [identity, envelope, body] of router) {
      const { decodeFrame } = require('../src');
      const [, type, id] = decodeFrame(envelope);
      const op = decodeFrame(body).op;
      const reply = (t, b) => router.send([identity, encodeFrame([1, t, id]), encodeFrame(b)]);
      if (type === 'HELLO') await reply('WELCOME', { version: 1, epoch: EPOCH, heartbeat_ms: 1000 });
      else if (op === 'ok') { await reply('PART', { n: 0, data: 'a' }); await reply('END', { parts: 1, result: 'r' }); }
      else if (op === 'skip') { await reply('PART', { n: 1, data: 'b' }); }
      else if (op === 'refused') await reply('ERROR', { kind: 'JournalUnavailable', message: 'disk', details: {} });
      else if (op === 'tr') {
        await reply('PART', { n: 0, data: { page: 0, piece: 0, single: { a: 1 }, multi: [{ r: 1 }, { r: 2 }] } });
        await reply('PART', { n: 1, data: { page: 0, piece: 1, single: { a: 1 }, multi: [{ r: 3 }] } });
        await reply('PART', { n: 2, data: { page: 1, single: { a: 1 }, multi: [{ r: 4 }] } });
        await reply('END', { parts: 3, result: { pages: 2, rows: 4 } });
      } else if (op === 'stop') return;
    }
  })();
  const client = new Client(endpoint, { timeoutMs: 5000 });
  try {
    const welcome = await client.connect();
    assert.equal(welcome.epoch, EPOCH);
    assert.deepStrictEqual(await client.stream('ok').collect(), { parts: ['a'], result: 'r' });
    await assert.rejects(client.stream('skip').collect(), errors.ProtocolError);
    const tr = await client.tr('opt10081', {});
    assert.deepStrictEqual(tr.pages.map((p) => [p.page, p.multi.map((row) => row.r)]), [[0, [1, 2, 3]], [1, [4]]]);
    assert.deepStrictEqual(tr.result, { pages: 2, rows: 4 });
    await assert.rejects(client.request('refused'), (exc) => exc instanceof errors.Unavailable
      && exc.kind === 'JournalUnavailable' && exc.message === 'disk');
  } finally {
    client.stream('stop');
    await client.close();
    router.close();
    await serve.catch(() => {});
  }
});

test('a snapshot is applied, then only the buffered publications newer than it (Clone pattern)', async () => {
  const pub = new zmq.Publisher({ linger: 0 });
  const pubEndpoint = await boundPort(pub);
  const router = new zmq.Router({ linger: 0 });
  const routerEndpoint = await boundPort(router);
  const { decodeFrame } = require('../src');
  const topic = 'rt.trade.A';
  const beat = setInterval(() => pub.send(publication('sys.hb', EPOCH, 0, 0)).catch(() => {}), 20);
  const serve = (async () => {
    for await (const [identity, envelope, body] of router) {
      const [, type, id] = decodeFrame(envelope);
      const reply = (t, b) => router.send([identity, encodeFrame([1, t, id]), encodeFrame(b)]);
      if (type === 'HELLO') { await reply('WELCOME', { version: 1, epoch: EPOCH, heartbeat_ms: 20 }); continue; }
      if (decodeFrame(body).op !== 'snapshot') return;
      // published while the snapshot is taken: 12 and 13 are in it, 14 and 15 are not
      for (const [seq, topicSeq] of [[12, 2], [13, 3], [14, 4], [15, 5]]) {
        await pub.send(publication(topic, EPOCH, seq, topicSeq, { n: topicSeq }));
      }
      await new Promise((r) => setTimeout(r, 100)); // let them reach the SUB before the snapshot ends
      await reply('PART', { n: 0, data: { topic, type: 'RT', epoch: EPOCH, seq: 13, topic_seq: 3, event_ns: null,
        recv_ns: 1, body: { n: 3 } } });
      await reply('END', { parts: 1, result: { epoch: EPOCH, seq: 13 } });
    }
  })();
  const seen = [];
  const client = new Client(routerEndpoint, { timeoutMs: 5000 });
  const sub = new Subscriber(pubEndpoint, { onMessage: (p, meta) => seen.push([meta.source, Number(p.seq), p.body.n, meta.gap]) });
  try {
    await client.connect();
    sub.connect();
    const end = await sub.sync(topic, client);
    assert.equal(end.seq, 13);
    await pub.send(publication(topic, EPOCH, 16, 6, { n: 6 }));
    for (let i = 0; i < 200 && seen.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepStrictEqual(seen, [['snapshot', 13, 3, 0], ['replay', 14, 4, 0], ['replay', 15, 5, 0], ['live', 16, 6, 0]]);
  } finally {
    clearInterval(beat);
    client.stream('stop');
    await client.close();
    sub.close();
    router.close();
    pub.close();
    await serve.catch(() => {});
  }
});

test('three heartbeat periods of silence are reported once', async () => {
  const pub = new zmq.Publisher({ linger: 0 });
  const endpoint = await boundPort(pub);
  let beats = 0;
  let silence = null;
  const sub = new Subscriber(endpoint, { heartbeatMs: 100, onHeartbeat: () => { beats += 1; },
    onSilence: (ms) => { silence = silence === null ? [ms] : [...silence, ms]; } });
  sub.connect();
  sub.subscribe('sys.hb');
  try {
    for (let i = 0; i < 300 && beats < 5; i++) { // beat until it hears five
      await pub.send(publication('sys.hb', EPOCH, i, i));
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(beats >= 5);
    assert.equal(silence, null); // beating: never silent
    for (let i = 0; i < 300 && silence === null; i++) await new Promise((r) => setTimeout(r, 10)); // then stop
    assert.equal(silence.length, 1);
    assert.ok(silence[0] > 300);
  } finally {
    sub.close();
    pub.close();
  }
});
