'use strict';
/** koabus client for Node.js: see README.md and docs/protocol.md. */
const { Client, Stream } = require('./client');
const { Subscriber } = require('./subscriber');
const messages = require('./messages');
const codec = require('./codec');
const errors = require('./errors');

module.exports = { Client, Stream, Subscriber, ...messages, ...codec, errors, ...errors };
