'use strict';
/**
 * A TR query with paging: daily candles (opt10081), up to 3 pages, one PART per page.
 *   node examples/tr_paging.js 005930 20240305
 */
const { Client, errors } = require('../src');

const ROUTER = process.env.KOABUS_ROUTER || 'tcp://127.0.0.1:5570';
const [code = '005930', date = '20240305'] = process.argv.slice(2);

async function main() {
  const client = new Client(ROUTER, { name: 'example-tr', timeoutMs: 30000 });
  await client.connect();
  try {
    // TR rows use the Korean field names of the TR's metadata (realtime uses English FID names)
    const stream = client.stream('tr', { code: 'opt10081', inputs: { 종목코드: code, 기준일자: date },
      all_pages: true, max_pages: 3 });
    for await (const page of stream) { // pages are numbered from 0
      const rows = page.multi;
      console.log(`page ${page.page}${page.piece !== undefined ? ` piece ${page.piece}` : ''}: ${rows.length} rows, `
        + `${rows[0]['일자']} .. ${rows[rows.length - 1]['일자']}`);
    }
    const end = await stream.result;
    console.log(`done: ${end.pages} pages, ${end.rows} rows, paced ${end.paced_wait_s} s`);
  } catch (exc) {
    if (exc instanceof errors.InvalidRequest) console.error(`bad inputs; valid: ${exc.details.valid}`);
    throw exc;
  } finally {
    await client.close();
  }
}

main().catch((exc) => { console.error(`${exc.kind || 'error'}: ${exc.message}`); process.exit(1); });
