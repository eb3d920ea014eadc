'use strict';
/**
 * Typed errors, one class per `ERROR.kind` of docs/protocol.md §3.4, so callers can branch with
 * `instanceof` (e.g. retry on Unavailable/Overloaded, never on OrderInDoubt).
 */
class KoabusError extends Error {
  constructor(kind, message, { code = null, details = {}, requestId = null } = {}) {
    super(message || kind);
    this.name = kind;
    this.kind = kind;
    this.code = code;
    this.details = details || {};
    this.requestId = requestId;
  }
}

const KINDS = [
  'ProtocolError', 'MessageTooLarge', 'VersionMismatch', 'InvalidRequest', 'NotFound', 'Forbidden',
  'KiwoomError', 'RiskRejected', 'DuplicateOrder', 'Unavailable', 'JournalUnavailable', 'OrderInDoubt',
  'Timeout', 'Cancelled', 'Overloaded',
];

const classes = {};
for (const kind of KINDS) {
  // JournalUnavailable is a kind of Unavailable (retry later)
  const Base = kind === 'JournalUnavailable' ? null : KoabusError;
  classes[kind] = Base && class extends Base {
    constructor(message, opts) { super(kind, message, opts); }
  };
}
classes.JournalUnavailable = class extends classes.Unavailable {
  constructor(message, opts) { super(message, opts); this.name = this.kind = 'JournalUnavailable'; }
};

/** The error for an ERROR body; an unknown kind (a newer broker) stays a plain KoabusError. */
function errorFromBody(body, requestId = null) {
  const kind = String(body.kind || 'KoabusError');
  const opts = { code: body.code ?? null, details: body.details || {}, requestId };
  const Cls = classes[kind];
  return Cls ? new Cls(body.message, opts) : new KoabusError(kind, body.message, opts);
}

module.exports = { KoabusError, errorFromBody, ...classes };
