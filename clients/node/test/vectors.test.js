'use strict';
/**
 * Every conformance vector in tests/vectors (or $KOABUS_VECTORS) decodes to exactly its "decoded"
 * meaning; every invalid one is refused with its error kind and request id.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { parseRouterFrames, parsePublication, toJsonValue } = require('../src');

const ROOT = process.env.KOABUS_VECTORS || path.resolve(__dirname, '..', '..', '..', 'tests', 'vectors');

function vectorFiles(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return vectorFiles(full);
    return e.name.endsWith('.json') ? [full] : [];
  }).sort();
}

function decode(vector) {
  const frames = vector.frames_hex.map((h) => Buffer.from(h, 'hex'));
  if (vector.channel === 'pub') {
    const p = parsePublication(frames);
    return { topic: p.topic, envelope: toJsonValue([p.version, p.type, p.epoch, p.seq, p.topicSeq, p.eventNs, p.recvNs]),
      body: toJsonValue(p.body) };
  }
  const m = parseRouterFrames(frames, vector.direction);
  return { envelope: toJsonValue([m.version, m.type, m.requestId]), body: toJsonValue(m.body) };
}

const files = vectorFiles(ROOT);

test('the conformance vectors are there', () => {
  assert.ok(files.length > 0, `no vectors under ${ROOT}`);
});

for (const file of files) {
  const vector = JSON.parse(fs.readFileSync(file, 'utf8'));
  test(`vector ${vector.name}`, () => {
    if (vector.valid) {
      assert.deepStrictEqual(decode(vector), vector.decoded);
      return;
    }
    let refused = null;
    try {
      decode(vector);
    } catch (exc) {
      refused = exc;
    }
    assert.ok(refused, `${vector.name} was accepted`);
    assert.equal(refused.kind, vector.error.kind, refused.message);
    const rid = refused.requestId === null || refused.requestId === undefined ? null : toJsonValue(refused.requestId);
    assert.deepStrictEqual(rid, vector.error.request_id, refused.message);
  });
}
