// End-to-end test of sipedge's operator page (admin port, `/`): loads it in Chromium, then makes traffic from the
// page itself and watches the page's own figures move without a reload — connections up when WebSockets open, a
// registration after a REGISTER, messages/s above zero, a handshake rejection for a WebSocket without the "sip"
// subprotocol, a routing failure for a stray response; then the admin actions: find the registered user with the
// page's search and close its connection with the page's button (the browser's socket sees close 4000), and
// connections down again when the sockets close.
// Starts no server itself; meant for sipedge standalone (the REGISTER is answered by its registrar).
//
//   node operator.mjs --admin http://127.0.0.1:9090/ --ws ws://127.0.0.1:8080/ [--screenshot docs/screenshots]
//
// Prints one line per step and a closing "N passed, M failed" line; exits non-zero when any step failed.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: opts } = parseArgs({
  options: {
    admin: { type: 'string', default: 'http://127.0.0.1:9090/' },
    ws: { type: 'string', default: 'ws://127.0.0.1:8080/' },
    label: { type: 'string', default: 'operator' },
    screenshot: { type: 'string', default: '' },
    timeout: { type: 'string', default: '8000' },
  },
});
const timeout = Number(opts.timeout);
const SOCKETS = 3;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
const page = await context.newPage();
page.on('pageerror', (e) => console.log(`  page error: ${e.message}`));

let passed = 0;
let failed = 0;
async function step(what, fn) {
  let why = '';
  try {
    why = (await fn()) || '';
  } catch (e) {
    why = e.message.split('\n')[0];
  }
  if (why) failed++;
  else passed++;
  console.log(`${why ? 'FAIL' : 'ok  '} ${opts.label} ${what}${why ? `: ${why}` : ''}`);
  return !why;
}

/** The number the page shows in element `id`. */
const figure = (id) => page.evaluate((i) => Number(document.getElementById(i).textContent), id);

/** Waits until the page shows a figure in `id` for which `ok(value)` holds; null, or what it showed instead. */
async function until(id, ok, expect) {
  const deadline = Date.now() + timeout;
  let value;
  while (Date.now() < deadline) {
    value = await figure(id);
    if (ok(value)) return null;
    await page.waitForTimeout(100);
  }
  return `#${id} shows ${value}, expected ${expect}`;
}

// The page context's own traffic toward the WebSocket port.
async function inPage(fn, arg) {
  return page.evaluate(fn, arg);
}

const register = (user) => [
  `REGISTER sip:example.test SIP/2.0`,
  `Via: SIP/2.0/WS ${user}.invalid;branch=z9hG4bK${Math.random().toString(36).slice(2)}`,
  'Max-Forwards: 70',
  `To: <sip:${user}@example.test>`,
  `From: <sip:${user}@example.test>;tag=${user}t`,
  `Call-ID: ${user}-operator-test`,
  'CSeq: 1 REGISTER',
  `Contact: <sip:${user}@${user}.invalid;transport=ws>;expires=60`,
  'Expires: 60',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

const strayResponse = [
  'SIP/2.0 200 OK',
  'Via: SIP/2.0/WS elsewhere.invalid;branch=z9hG4bKstray',
  'To: <sip:x@example.test>;tag=a',
  'From: <sip:y@example.test>;tag=b',
  'Call-ID: stray-operator-test',
  'CSeq: 1 OPTIONS',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

try {
  const loaded = await step('operator page loads and goes live', async () => {
    const response = await page.goto(opts.admin, { waitUntil: 'load', timeout });
    if (!response || response.status() !== 200) return `GET ${opts.admin}: HTTP ${response && response.status()}`;
    if ((await page.title()) !== 'sipedge operator') return `title is "${await page.title()}"`;
    await page.waitForFunction(() => document.getElementById('state').dataset.state === 'live', null, { timeout });
    const rows = await page.locator('#workers tbody tr').count();
    return rows >= 1 ? null : 'no worker rows';
  });
  if (!loaded) throw new Error('page not loaded');

  // Each step reads its baseline from the page just before it acts (the registrations gauge in particular is
  // refreshed by the workers about once a second, so earlier traffic may still be settling).
  const before = {};
  const baseline = async (key, id) => {
    before[key] = await figure(id);
    return Number.isFinite(before[key]) ? null : `#${id} shows no number`;
  };

  await step(`${SOCKETS} WebSockets opened from the page show as connections`, async () => {
    const bad = await baseline('connections', 'total-connections');
    if (bad) return bad;
    const opened = await inPage(
      ([url, n]) => Promise.all(Array.from({ length: n }, () => new Promise((ok) => {
        const ws = new WebSocket(url, 'sip');
        (window.testSockets ||= []).push(ws);
        ws.onopen = () => ok(ws.protocol);
        ws.onerror = () => ok('error');
      }))),
      [opts.ws, SOCKETS],
    );
    if (opened.some((p) => p !== 'sip')) return `WebSockets did not open with "sip": ${opened.join(', ')}`;
    return until('total-connections', (v) => v >= before.connections + SOCKETS, `>= ${before.connections + SOCKETS}`);
  });

  const user = `op${Math.random().toString(36).slice(2, 7)}`;
  await step('a REGISTER shows as a registration, and messages/s rises', async () => {
    const bad = await baseline('registrations', 'total-registrations');
    if (bad) return bad;
    const answer = await inPage(([msg]) => new Promise((ok) => {
      const ws = window.testSockets[0];
      ws.onmessage = (e) => ok(String(e.data).split('\r\n')[0]);
      ws.send(msg);
      setTimeout(() => ok('no answer'), 3000);
    }), [register(user)]);
    if (answer !== 'SIP/2.0 200 OK') return `REGISTER answered "${answer}"`;
    const why = await until('total-registrations', (v) => v >= before.registrations + 1, `>= ${before.registrations + 1}`);
    if (why) return why;
    // Keep a little traffic going (CRLF keepalives are not messages; OPTIONS to the registrar are).
    await inPage(() => {
      window.testTraffic = setInterval(() => window.testSockets[1].send(
        `OPTIONS sip:example.test SIP/2.0\r\nVia: SIP/2.0/WS t.invalid;branch=z9hG4bK${Math.random()}\r\n` +
        'Max-Forwards: 70\r\nTo: <sip:example.test>\r\nFrom: <sip:t@example.test>;tag=t\r\n' +
        'Call-ID: options-operator-test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n'), 100);
    });
    return until('messages-per-second', (v) => v > 0, '> 0');
  });

  await step('the latency table times the last second\'s forwards, the chart draws them, workers show busy %', async () => {
    // The OPTIONS every 100 ms are answered by the node: forwards to a browser.
    const why = await until('latency-to_client-p99', (v) => v > 0 && v < 1000, 'a p99 between 0 and 1000 ms');
    if (why) return why;
    const count = await figure('latency-to_client-count');
    if (!(count >= 1)) return `count of the last second: ${count}`;
    const d = await page.locator('#latency-chart .p99').getAttribute('d');
    if (!d || !d.startsWith('M')) return `the chart's p99 path is "${d}"`;
    const busy = await page.locator('#workers tbody tr td:last-child').first().textContent();
    return /^\d+(\.\d)? %$/.test(busy) ? null : `worker 0 busy shows "${busy}"`;
  });

  await step('a WebSocket without the "sip" subprotocol shows as a handshake rejection', async () => {
    const bad = await baseline('rejections', 'total-handshake-rejections');
    if (bad) return bad;
    await inPage((url) => new Promise((ok) => {
      const ws = new WebSocket(url);
      ws.onopen = () => ok('open');
      ws.onerror = () => ok('refused');
    }), opts.ws);
    return until('total-handshake-rejections', (v) => v >= before.rejections + 1, `>= ${before.rejections + 1}`);
  });

  await step('a response for nobody shows as a routing failure', async () => {
    const bad = await baseline('failures', 'total-routing-failures');
    if (bad) return bad;
    await inPage((msg) => window.testSockets[2].send(msg), strayResponse);
    return until('total-routing-failures', (v) => v >= before.failures + 1, `>= ${before.failures + 1}`);
  });

  await step('the page finds the registered user and closes its connection with the chosen code', async () => {
    await page.fill('#find-aor', `sip:${user}@example.test`);
    await page.click('#find');
    const rows = page.locator('#found tbody tr');
    await rows.first().waitFor({ timeout });
    if ((await rows.count()) !== 1) return `${await rows.count()} rows for ${user}`;
    const shown = await rows.first().locator('td').first().textContent();
    if (!shown.includes(`${user}@example.test`)) return `the row names "${shown}"`;
    const closed = inPage(() => new Promise((ok) => {
      window.testSockets[0].onclose = (e) => ok(e.code);
      setTimeout(() => ok('still open'), 5000);
    }));
    await page.selectOption('#close-code', '4000');
    await rows.first().locator('button.close-connection').click();
    const code = await closed;
    if (code !== 4000) return `the browser's socket: ${code}`;
    await page.waitForFunction(() => document.querySelectorAll('#found tbody tr').length === 0, null, { timeout });
    const message = await page.locator('#admin-message').textContent();
    return message.startsWith('closed with 4000') ? null : `the page says "${message}"`;
  });

  if (opts.screenshot) {
    await mkdir(opts.screenshot, { recursive: true });
    await page.waitForTimeout(1200);
    const file = join(opts.screenshot, 'operator.png');
    await page.screenshot({ path: file, fullPage: true });
    console.log(`screenshot: ${file}`);
  }

  await step('closing the WebSockets brings connections back down', async () => {
    await inPage(() => {
      clearInterval(window.testTraffic);
      for (const ws of window.testSockets) ws.close(1000);
    });
    return until('total-connections', (v) => v <= before.connections, `<= ${before.connections}`);
  });
} catch (e) {
  if (e.message !== 'page not loaded') {
    failed++;
    console.log(`FAIL ${opts.label} unexpected error: ${e.message}`);
  }
} finally {
  await context.close();
  await browser.close();
}
console.log(`operator ${opts.label}: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
