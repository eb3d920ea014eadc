'use strict';
/**
 * Frames <-> typed messages (docs/protocol.md §3.1 request/reply, §4.1 publications), with the checks
 * the broker makes on what it receives: a client that validates the same way rejects exactly what the
 * conformance vectors call invalid.
 */
const { decodeFrame, encodeFrame, containsExt } = require('./codec');
const errors = require('./errors');

const VERSION = 1;
const TO_BROKER = new Set(['HELLO', 'REQUEST', 'CANCEL', 'PING', 'BYE']);
const FROM_BROKER = new Set(['WELCOME', 'REPLY', 'PART', 'END', 'ERROR', 'PONG']);
// publication types of this version; an unknown one is refused, as the Python codec does
const PUB_TYPES = new Set(['RT', 'CHEJAN', 'COND', 'SYS', 'HB', 'ALERT', 'BAR', 'RTB', 'RTP']);
const LIMITS = { client: 64, versions: 16, op: 64, idem_key: 128, argKey: 64, argText: 4096, argDepth: 16 };
const TWO_63 = 2n ** 63n;

const isInt = (v) => (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint';
const isMap = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);

function protocolError(message, requestId, details) {
  return new errors.ProtocolError(message, { requestId, details: details || {} });
}

function decodeOrRefuse(frame, what, requestId) {
  let value;
  try {
    value = decodeFrame(frame);
  } catch (exc) {
    throw protocolError(`${what}: not one msgpack object (${exc.message})`, requestId);
  }
  if (containsExt(value)) throw protocolError(`${what}: msgpack extension types are not allowed`, requestId);
  return value;
}

function checkOptional(body, key, test, what, requestId) {
  if (body[key] !== undefined && body[key] !== null && !test(body[key])) {
    throw protocolError(`${what}.${key} has the wrong type`, requestId);
  }
}

function checkLength(text, limit, what, requestId) {
  if (typeof text === 'string' && [...text].length > limit) {
    throw protocolError(`${what} longer than ${limit} characters`, requestId, { limit });
  }
}

function checkArgs(value, depth, requestId) {
  if (depth > LIMITS.argDepth) throw protocolError('args nested too deep', requestId, { limit: LIMITS.argDepth });
  if (typeof value === 'string') return checkLength(value, LIMITS.argText, 'an args text value', requestId);
  if (Array.isArray(value)) return value.forEach((v) => checkArgs(v, depth + 1, requestId));
  if (isMap(value)) {
    for (const key of Object.keys(value)) {
      checkLength(key, LIMITS.argKey, 'an args key', requestId);
      checkArgs(value[key], depth + 1, requestId);
    }
  }
  return undefined;
}

function checkBody(type, body, requestId) {
  if (type === 'HELLO') {
    if (!Array.isArray(body.versions) || !body.versions.every(isInt)) {
      throw protocolError('HELLO.versions must be a list of integers', requestId);
    }
    if (body.versions.length > LIMITS.versions) {
      throw protocolError('HELLO.versions has too many entries', requestId, { limit: LIMITS.versions });
    }
    checkOptional(body, 'client', (v) => typeof v === 'string', type, requestId);
    checkLength(body.client, LIMITS.client, 'HELLO.client', requestId);
    checkOptional(body, 'heartbeat_ms', isInt, type, requestId);
  } else if (type === 'REQUEST') {
    if (typeof body.op !== 'string') throw protocolError('REQUEST.op must be a string', requestId);
    checkLength(body.op, LIMITS.op, 'REQUEST.op', requestId);
    checkOptional(body, 'args', isMap, type, requestId);
    checkOptional(body, 'deadline_ms', isInt, type, requestId);
    checkOptional(body, 'idem_key', (v) => typeof v === 'string', type, requestId);
    checkLength(body.idem_key, LIMITS.idem_key, 'REQUEST.idem_key', requestId);
    if (isMap(body.args)) checkArgs(body.args, 1, requestId);
    if (body.deadline_ms !== undefined && body.deadline_ms !== null && body.deadline_ms <= 0) {
      throw protocolError('REQUEST.deadline_ms must be positive', requestId);
    }
  } else if (type === 'PART') {
    if (!isInt(body.n)) throw protocolError('PART.n must be an integer', requestId);
  } else if (type === 'END') {
    if (!isInt(body.parts)) throw protocolError('END.parts must be an integer', requestId);
  } else if (type === 'ERROR') {
    if (typeof body.kind !== 'string') throw protocolError('ERROR.kind must be a string', requestId);
  }
}

/**
 * Router frames (after any identity frame) to {version, type, requestId, body}.
 * `direction` is 'to_broker' or 'from_broker' (which message types are legal). Throws a typed error.
 */
function parseRouterFrames(frames, direction = 'from_broker') {
  // the envelope is read first, so that even a wrong frame count is refused with the request's own id
  const envelope = frames.length >= 1 ? decodeOrRefuse(frames[0], 'envelope', null) : null;
  if (!Array.isArray(envelope) || envelope.length !== 3) {
    if (frames.length !== 2) throw protocolError(`expected 2 frames, got ${frames.length}`, null);
    throw protocolError('envelope must be [version:int, type:str, request_id:int]', null);
  }
  const [version, type, requestId] = envelope;
  if (!isInt(requestId) || BigInt(requestId) < 0n || BigInt(requestId) >= TWO_63) {
    throw protocolError('request_id must be an integer in [0, 2^63)', null);
  }
  if (frames.length !== 2) throw protocolError(`expected 2 frames, got ${frames.length}`, requestId);
  if (!isInt(version)) throw protocolError('version must be an integer', requestId);
  if (Number(version) !== VERSION) {
    throw new errors.VersionMismatch(`version ${version} not spoken`, { requestId, details: { supported: [VERSION] } });
  }
  const legal = direction === 'to_broker' ? TO_BROKER : FROM_BROKER;
  if (typeof type !== 'string' || !legal.has(type)) throw protocolError(`unknown message type ${type}`, requestId);
  const body = decodeOrRefuse(frames[1], 'body', requestId);
  if (!isMap(body)) throw protocolError('body must be a map', requestId);
  checkBody(type, body, requestId);
  return { version, type, requestId, body };
}

/** A client message as its two frames. */
function buildFrames(type, requestId, body = {}) {
  return [encodeFrame([VERSION, type, requestId]), encodeFrame(body)];
}

/**
 * SUB frames to {topic, version, type, epoch, seq, topicSeq, eventNs, recvNs, body}; throws ProtocolError.
 */
function parsePublication(frames) {
  if (frames.length !== 3) throw protocolError(`expected 3 frames, got ${frames.length}`, null);
  const topicBytes = Buffer.from(frames[0]);
  if (topicBytes.length > 255 || topicBytes.some((b) => b > 0x7f)) throw protocolError('topic must be ASCII, <= 255 bytes', null);
  const envelope = decodeOrRefuse(frames[1], 'envelope', null);
  if (!Array.isArray(envelope) || envelope.length !== 7) throw protocolError('publication envelope must have 7 items', null);
  if (!isInt(envelope[0])) throw protocolError('version must be an integer', null);
  if (Number(envelope[0]) !== VERSION) {
    throw new errors.VersionMismatch(`version ${envelope[0]} not spoken`, { details: { supported: [VERSION] } });
  }
  if (!PUB_TYPES.has(envelope[1])) throw protocolError(`unknown publication type ${envelope[1]}`, null);
  for (const [i, name] of [[2, 'epoch'], [3, 'seq'], [4, 'topic_seq'], [6, 'recv_ns']]) {
    if (!isInt(envelope[i]) || envelope[i] < 0 || BigInt(envelope[i]) >= TWO_63) {
      throw protocolError(`${name} must be an integer in [0, 2^63)`, null);
    }
  }
  if (!(envelope[5] === null || isInt(envelope[5]))) throw protocolError('event_ns must be an integer or nil', null);
  const body = decodeOrRefuse(frames[2], 'body', null);
  if (!isMap(body)) throw protocolError('publication body must be a map', null);
  const [version, type, epoch, seq, topicSeq, eventNs, recvNs] = envelope;
  return { topic: topicBytes.toString('ascii'), version, type, epoch, seq, topicSeq, eventNs, recvNs, body };
}

module.exports = { VERSION, parseRouterFrames, buildFrames, parsePublication };
