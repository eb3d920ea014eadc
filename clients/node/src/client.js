'use strict';
/**
 * Request/reply over one DEALER (docs/protocol.md §3): HELLO, single-answer requests, streams
 * (PART…END or ERROR), CANCEL, PING, BYE. One receive loop routes every reply by request id, so any
 * number of requests and streams can be in flight at once.
 */
const crypto = require('crypto');
const zmq = require('zeromq');
const { buildFrames, parseRouterFrames, VERSION } = require('./messages');
const errors = require('./errors');

/** A random routing id of 16 bytes whose first byte is not zero (§1.1: ZeroMQ reserves a leading 0). */
function newRoutingId() {
  const id = crypto.randomBytes(16);
  id[0] = 1 + (id[0] % 255);
  return id;
}

/**
 * A stream's answer as it arrives: `for await (const data of stream)` yields each PART's data in
 * order; `stream.result` resolves to END.result (or rejects with the typed ERROR). A missing PART
 * (by `n` or END.parts) rejects with ProtocolError.
 */
class Stream {
  constructor(requestId, client) {
    this.requestId = requestId;
    this._client = client;
    this._queue = [];
    this._waiters = [];
    this._done = false;
    this._nextN = 0;
    this.result = new Promise((resolve, reject) => { this._resolve = resolve; this._reject = reject; });
    this.result.catch(() => {}); // observed through iteration or by the caller
  }

  _part(body) {
    if (Number(body.n) !== this._nextN) {
      return this._fail(new errors.ProtocolError(`PART ${body.n} where ${this._nextN} was due`, { requestId: this.requestId }));
    }
    this._nextN += 1;
    return this._push({ value: body.data, done: false });
  }

  _end(body) {
    if (Number(body.parts) !== this._nextN) {
      return this._fail(new errors.ProtocolError(`END says ${body.parts} parts, ${this._nextN} arrived`, { requestId: this.requestId }));
    }
    this._done = true;
    this._resolve(body.result);
    return this._push({ value: undefined, done: true });
  }

  _fail(error) {
    if (this._done) return undefined;
    this._done = true;
    this._reject(error);
    this._error = error;
    return this._push(null);
  }

  _push(item) {
    const waiter = this._waiters.shift();
    if (waiter) waiter(item); else this._queue.push(item);
  }

  async next() {
    const item = this._queue.length ? this._queue.shift() : await new Promise((r) => this._waiters.push(r));
    if (item === null) throw this._error;
    return item;
  }

  [Symbol.asyncIterator]() { return this; }

  /** Stop the stream (§3.2 CANCEL): paging stops, an order stream detaches; the order stays. */
  cancel() { return this._client._send('CANCEL', this.requestId, {}); }

  /** Every PART's data, then END.result: `{parts, result}`. */
  async collect() {
    const parts = [];
    for await (const data of this) parts.push(data);
    return { parts, result: await this.result };
  }
}

class Client {
  /**
   * @param {string} router the broker's ROUTER endpoint, e.g. tcp://127.0.0.1:5570
   * @param {{timeoutMs?: number, name?: string}} options
   */
  constructor(router, { timeoutMs = 10000, name = 'koabus-node' } = {}) {
    this.router = router;
    this.timeoutMs = timeoutMs;
    this.name = name;
    this.socket = new zmq.Dealer({ routingId: newRoutingId(), linger: 0 });
    this._nextId = 1;
    this._pending = new Map(); // request id -> {resolve, reject} or Stream
    this._sending = Promise.resolve();
    this._closed = false;
    this.welcome = null;
  }

  /** Connect and say HELLO; resolves to the WELCOME body ({version, epoch, heartbeat_ms, …}). */
  async connect() {
    this.socket.connect(this.router);
    this._loop = this._receiveLoop();
    this.welcome = await this._single('HELLO', { versions: [VERSION], client: this.name });
    return this.welcome;
  }

  /** A single-answer op: resolves to REPLY.result, rejects with the typed ERROR. */
  request(op, args = {}, { deadlineMs = null, idemKey = null } = {}) {
    return this._single('REQUEST', { op, args, deadline_ms: deadlineMs, idem_key: idemKey });
  }

  /** A stream op (tr, kwfid, snapshot, order, cancel_order, modify_order): a Stream. */
  stream(op, args = {}, { deadlineMs = null, idemKey = null } = {}) {
    const requestId = this._nextId++;
    const stream = new Stream(requestId, this);
    this._pending.set(requestId, stream);
    this._send('REQUEST', requestId, { op, args, deadline_ms: deadlineMs, idem_key: idemKey })
      .catch((exc) => this._settle(requestId, (p) => p._fail(exc)));
    return stream;
  }

  /**
   * A TR query, its pages joined (§7): a page too large for one frame comes as several PARTs with the
   * same `page` and a `piece` index, whose rows are concatenated here. Resolves to {pages, result}.
   */
  async tr(code, inputs, options = {}) {
    const { parts, result } = await this.stream('tr', { ...options, code, inputs }).collect();
    const pages = [];
    for (const part of parts) {
      const last = pages[pages.length - 1];
      if (last && part.piece !== undefined && part.piece !== null && Number(part.piece) > 0 && last.page === part.page) {
        last.multi = last.multi.concat(part.multi || []);
        last.messages = (last.messages || []).concat(part.messages || []);
      } else {
        pages.push({ ...part, multi: [...(part.multi || [])] });
      }
    }
    return { pages, result };
  }

  /** PING; resolves to PONG {epoch, seq}. */
  ping() { return this._single('PING', {}); }

  /** Say BYE (the identity is retired, §1.1) and close; pending requests fail with Unavailable. */
  async close() {
    if (this._closed) return;
    try {
      await Promise.race([this._send('BYE', this._nextId++, {}), new Promise((r) => setTimeout(r, 500))]);
    } catch (exc) { /* closing anyway */ }
    this._closed = true;
    this._failAll(new errors.Unavailable('client closed'));
    this.socket.close();
  }

  _single(type, body) {
    const requestId = this._nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this._settle(requestId, (p) => p.reject(
        new errors.Timeout(`no answer to ${type} ${body.op || ''} within ${this.timeoutMs} ms`, { requestId }))), this.timeoutMs);
      this._pending.set(requestId, {
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this._send(type, requestId, body).catch((exc) => this._settle(requestId, (p) => p.reject(exc)));
    });
  }

  _settle(requestId, fn) {
    const pending = this._pending.get(requestId);
    if (pending) { this._pending.delete(requestId); fn(pending); }
  }

  /** zeromq allows one send in progress per socket: sends are chained. */
  _send(type, requestId, body) {
    const frames = buildFrames(type, requestId, body);
    this._sending = this._sending.catch(() => {}).then(() => this.socket.send(frames));
    return this._sending;
  }

  async _receiveLoop() {
    try {
      for await (const frames of this.socket) this._dispatch(frames);
    } catch (exc) {
      if (!this._closed) this._failAll(new errors.Unavailable(`receive failed: ${exc.message}`));
    }
  }

  _dispatch(frames) {
    let msg;
    try {
      msg = parseRouterFrames(frames, 'from_broker');
    } catch (exc) {
      if (exc.requestId !== null && exc.requestId !== undefined) this._settle(Number(exc.requestId), (p) => this._reject(p, exc));
      return; // an unreadable frame answers nothing we wait for
    }
    const id = Number(msg.requestId);
    const pending = this._pending.get(id);
    if (!pending) return; // late answer to something that timed out
    if (pending instanceof Stream) {
      if (msg.type === 'PART') pending._part(msg.body);
      else if (msg.type === 'END') pending._end(msg.body);
      else if (msg.type === 'ERROR') pending._fail(errors.errorFromBody(msg.body, id));
      else pending._fail(new errors.ProtocolError(`${msg.type} on a stream`, { requestId: id }));
      if (pending._done) this._pending.delete(id);
      return;
    }
    this._pending.delete(id);
    if (msg.type === 'ERROR') pending.reject(errors.errorFromBody(msg.body, id));
    else if (msg.type === 'REPLY') pending.resolve(msg.body.result);
    else if (msg.type === 'WELCOME' || msg.type === 'PONG') pending.resolve(msg.body);
    else pending.reject(new errors.ProtocolError(`${msg.type} answers a single request`, { requestId: id }));
  }

  _reject(pending, error) {
    if (pending instanceof Stream) pending._fail(error); else pending.reject(error);
  }

  _failAll(error) {
    for (const [id, pending] of this._pending) { this._pending.delete(id); this._reject(pending, error); }
  }
}

module.exports = { Client, Stream, newRoutingId };
