'use strict';
/**
 * msgpack for the koabus wire (docs/protocol.md §2).
 *
 * Integers: JavaScript numbers lose precision beyond 2^53, so the decoder reads 64-bit integers as
 * BigInt and turns back into plain numbers the ones that fit exactly: a value is a BigInt only when it
 * must be (epochs, large volumes), and callers compare with `sameInt` when either side may be one.
 * Extension types are never legal on the wire; they decode to ExtData (never to a Date) so that the
 * protocol layer can refuse them with a ProtocolError.
 */
const { Decoder, Encoder, ExtensionCodec, ExtData } = require('@msgpack/msgpack');

const extensionCodec = new ExtensionCodec();
// override the built-in timestamp decoder (type -1): keep the raw extension so it can be refused
extensionCodec.register({ type: -1, encode: () => null, decode: (data) => new ExtData(-1, data) });

// map keys are strings (docs/protocol.md §2): any other key makes the frame unreadable
const mapKeyConverter = (key) => {
  if (typeof key !== 'string') throw new TypeError(`map key ${String(key)} is not a string`);
  return key;
};
const decoder = new Decoder({ useBigInt64: true, extensionCodec, mapKeyConverter });
const encoder = new Encoder({ useBigInt64: true, extensionCodec, ignoreUndefined: false });

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Narrow BigInts that fit in a double exactly back to numbers, recursively. */
function narrow(value) {
  if (typeof value === 'bigint') {
    return value <= MAX_SAFE && value >= -MAX_SAFE ? Number(value) : value;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = narrow(value[i]);
    return value;
  }
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array) && !(value instanceof ExtData)) {
    for (const key of Object.keys(value)) value[key] = narrow(value[key]);
  }
  return value;
}

/** One frame (Buffer/Uint8Array) to a value; throws on malformed or trailing bytes. */
function decodeFrame(frame) {
  return narrow(decoder.decode(frame));
}

/** One value to a frame (a Buffer, as zeromq wants). */
function encodeFrame(value) {
  const bytes = encoder.encode(value);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** True when the value holds a msgpack extension anywhere in it. */
function containsExt(value) {
  if (value instanceof ExtData) return true;
  if (Array.isArray(value)) return value.some(containsExt);
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return Object.keys(value).some((k) => containsExt(value[k]));
  }
  return false;
}

/** Integer equality across number/BigInt. */
function sameInt(a, b) {
  if (a === null || a === undefined || b === null || b === undefined) return a === b;
  return BigInt(a) === BigInt(b);
}

function hex(bytes) {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/**
 * A decoded value in the JSON form of tests/vectors (README there): big integers as {"$int": "..."},
 * non-finite floats as {"$float": ...}, bytes as {"$bin": hex}, extensions as {"$ext": type, "data": hex}.
 */
function toJsonValue(value) {
  if (typeof value === 'bigint') return { $int: value.toString() };
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return { $float: 'nan' };
    if (value === Infinity) return { $float: 'inf' };
    if (value === -Infinity) return { $float: '-inf' };
    return value;
  }
  if (value instanceof ExtData) return { $ext: value.type, data: hex(value.data) };
  if (value instanceof Uint8Array) return { $bin: hex(value) };
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (value !== null && typeof value === 'object') {
    const out = {};
    for (const key of Object.keys(value)) out[key] = toJsonValue(value[key]);
    return out;
  }
  return value;
}

module.exports = { decodeFrame, encodeFrame, containsExt, sameInt, toJsonValue, ExtData };
