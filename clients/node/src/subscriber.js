'use strict';
/**
 * Publications over one SUB (docs/protocol.md §4-§6): per-topic gap detection on `topic_seq`, epoch
 * changes, and late-join snapshots by the Clone pattern (§5) so nothing falls between the snapshot and
 * the live stream.
 */
const zmq = require('zeromq');
const { parsePublication } = require('./messages');
const { sameInt } = require('./codec');

const HEARTBEAT_TOPIC = 'sys.hb';

class Subscriber {
  /**
   * @param {string} pub the broker's PUB endpoint
   * @param {object} handlers
   *   onMessage(pub, {source: 'live'|'snapshot'|'replay', gap}) every publication, in order;
   *     `gap` is how many messages of that topic were lost just before it (0 normally);
   *   onEpoch(epoch, previous) the broker restarted (§6): cached state is stale;
   *   onHeartbeat(pub) each sys.hb;
   *   onSilence(silentMs) nothing heard for three heartbeat periods after the first beat (§8: presume
   *     the broker dead, fail pending requests, reconnect); once per silence.
   * @param {number} heartbeatMs the broker's period (WELCOME.heartbeat_ms)
   */
  constructor(pub, { onMessage = () => {}, onEpoch = () => {}, onHeartbeat = () => {}, onSilence = () => {},
    heartbeatMs = 1000 } = {}) {
    this.endpoint = pub;
    this.handlers = { onMessage, onEpoch, onHeartbeat, onSilence };
    this.heartbeatMs = heartbeatMs;
    this._lastHeard = null; // Date.now() of the last message, from the first heartbeat on
    this._silent = false;
    this.socket = new zmq.Subscriber({ linger: 0, receiveHighWaterMark: 0 });
    this.epoch = null;
    this.topicSeq = new Map(); // topic -> last topic_seq seen
    this.gaps = 0; // messages lost in total, over all topics
    this._buffers = new Map(); // prefix -> publications buffered while its snapshot runs
    this._hbWaiters = [];
    this._hbSubscribed = false;
    this._closed = false;
  }

  connect() {
    this.socket.connect(this.endpoint);
    this._loop = this._receiveLoop();
    this._watchdog = setInterval(() => this._checkSilence(), this.heartbeatMs);
    this._watchdog.unref();
  }

  _checkSilence() {
    if (this._lastHeard === null || this._silent) return;
    const silentMs = Date.now() - this._lastHeard;
    if (silentMs > 3 * this.heartbeatMs) {
      this._silent = true;
      this.handlers.onSilence(silentMs);
    }
  }

  /** Subscribe to a prefix without a snapshot (live only). */
  subscribe(prefix) { this.socket.subscribe(prefix); }

  /**
   * Subscribe to `prefix` and bring its state up to date through `client` (a connected Client): wait
   * until the SUB is live (a heartbeat arrives after the subscription), take a snapshot, apply it,
   * then replay the buffered publications newer than the snapshot. Resolves to END.result {epoch, seq}.
   */
  async sync(prefix, client, { liveTimeoutMs = 5000 } = {}) {
    this._buffers.set(prefix, []);
    try {
      this.socket.subscribe(prefix);
      // ZeroMQ applies subscriptions in order: the first heartbeat after subscribing to sys.hb proves the
      // prefix is active too; once sys.hb is subscribed already, a beat may have been in flight, so two.
      const beats = this._hbSubscribed ? 2 : 1;
      if (!this._hbSubscribed) { this.socket.subscribe(HEARTBEAT_TOPIC); this._hbSubscribed = true; }
      await this._heartbeats(beats, liveTimeoutMs);
      const stream = client.stream('snapshot', { prefix });
      for await (const data of stream) {
        this._apply({ topic: data.topic, type: data.type, epoch: data.epoch, seq: data.seq, topicSeq: data.topic_seq,
          eventNs: data.event_ns, recvNs: data.recv_ns, body: data.body }, 'snapshot');
      }
      const result = await stream.result;
      const buffered = this._buffers.get(prefix);
      this._buffers.delete(prefix);
      for (const pub of buffered) {
        if (sameInt(pub.epoch, result.epoch) && pub.seq > result.seq) this._apply(pub, 'replay');
      }
      return result;
    } finally {
      this._buffers.delete(prefix);
    }
  }

  close() {
    this._closed = true;
    clearInterval(this._watchdog);
    this.socket.close();
    for (const w of this._hbWaiters) w.reject(new Error('subscriber closed'));
    this._hbWaiters = [];
  }

  _heartbeats(count, timeoutMs) {
    return new Promise((resolve, reject) => {
      const waiter = { left: count, resolve: () => { clearTimeout(timer); resolve(); }, reject };
      const timer = setTimeout(() => {
        this._hbWaiters = this._hbWaiters.filter((w) => w !== waiter);
        reject(new Error(`no broker heartbeat on ${this.endpoint} within ${timeoutMs} ms`));
      }, timeoutMs);
      this._hbWaiters.push(waiter);
    });
  }

  async _receiveLoop() {
    try {
      for await (const frames of this.socket) this._receive(frames);
    } catch (exc) {
      if (!this._closed) throw exc;
    }
  }

  _receive(frames) {
    let pub;
    try {
      pub = parsePublication(frames);
    } catch (exc) {
      return; // not a koabus publication: ignored, counted nowhere
    }
    if (pub.topic === HEARTBEAT_TOPIC || this._lastHeard !== null) {
      this._lastHeard = Date.now();
      this._silent = false;
    }
    if (pub.topic === HEARTBEAT_TOPIC) {
      this._checkEpoch(pub.epoch);
      this.handlers.onHeartbeat(pub);
      const done = [];
      for (const w of this._hbWaiters) { w.left -= 1; if (w.left <= 0) done.push(w); }
      this._hbWaiters = this._hbWaiters.filter((w) => w.left > 0);
      done.forEach((w) => w.resolve());
      return;
    }
    for (const [prefix, buffer] of this._buffers) {
      if (pub.topic.startsWith(prefix)) { buffer.push(pub); return; }
    }
    this._apply(pub, 'live');
  }

  _checkEpoch(epoch) {
    if (this.epoch !== null && !sameInt(epoch, this.epoch)) {
      const previous = this.epoch;
      this.epoch = epoch;
      this.topicSeq.clear();
      this.handlers.onEpoch(epoch, previous);
    } else {
      this.epoch = epoch;
    }
  }

  _apply(pub, source) {
    this._checkEpoch(pub.epoch);
    const last = this.topicSeq.get(pub.topic);
    let gap = 0;
    if (last !== undefined && source !== 'snapshot') {
      if (pub.topicSeq <= last) return; // already applied (a snapshot covered it)
      gap = Number(BigInt(pub.topicSeq) - BigInt(last) - 1n);
    } else if (last !== undefined && pub.topicSeq <= last) {
      return;
    }
    this.topicSeq.set(pub.topic, pub.topicSeq);
    this.gaps += gap;
    this.handlers.onMessage(pub, { source, gap });
  }
}

module.exports = { Subscriber };
