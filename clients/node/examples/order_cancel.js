'use strict';
/**
 * Place a limit buy well below the market, watch its events, and cancel it by its client order id.
 *   node examples/order_cancel.js 005930
 * Use the simulated control (koabus broker --backend sim) or a paper account: this sends real orders.
 */
const crypto = require('crypto');
const { Client, errors } = require('../src');

const ROUTER = process.env.KOABUS_ROUTER || 'tcp://127.0.0.1:5570';
const code = process.argv[2] || '005930';

async function main() {
  const client = new Client(ROUTER, { name: 'example-order', timeoutMs: 20000 });
  await client.connect();
  try {
    const accounts = String(await client.request('call', { method: 'GetLoginInfo', args: ['ACCLIST'] }))
      .split(';').filter(Boolean);
    const last = Number(await client.request('call', { method: 'GetMasterLastPrice', args: [code] }));
    const price = Math.floor((last * 8) / 10 / 100) * 100; // 80 %: inside the daily limit, stays open
    // the client order id makes a retry safe: sending the same id again re-attaches to this order
    const cid = `ex-${crypto.randomBytes(6).toString('hex')}`;
    const order = client.stream('order', { account: accounts[0], side: 'buy', code, qty: 1, price, hoga: '00',
      client_order_id: cid });
    let cancel = null;
    for await (const event of order) {
      console.log(`order  ${event.event.padEnd(9)} state=${event.state} order_no=${event.order_no}`);
      if (event.event === 'accepted' && !cancel) {
        cancel = client.stream('cancel_order', { account: accounts[0], client_order_id: cid, qty: 0,
          client_order_id_new: `${cid}-cancel` });
        cancel.collect().then(({ parts }) => parts.forEach((e) => console.log(`cancel ${e.event}`)), () => {});
      }
      if (event.event === 'rejected') console.log(`rejected: ${event.message}`); // an event, not an ERROR
    }
    console.log('final:', (await order.result).state);
    if (cancel) await cancel.result;
  } catch (exc) {
    if (exc instanceof errors.OrderInDoubt) console.error('order in doubt: check it before sending again');
    throw exc;
  } finally {
    await client.close();
  }
}

main().catch((exc) => { console.error(`${exc.kind || 'error'}: ${exc.message}`); process.exit(1); });
