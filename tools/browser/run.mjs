// End-to-end test of real browser SIP stacks against a SIP-over-WebSocket server (sipedge, or Kamailio as the
// reference): for each stack, two users in two Chromium pages register, exchange a UTF-8 MESSAGE, complete a call
// (INVITE / 200 / ACK, then BYE) and unregister. Each step asserts what the user would see.
//
//   node run.mjs --ws ws://127.0.0.1:8080 [--domain example.test] [--stacks jssip,sipjs] [--label sipedge]
//                [--extensions permessage-deflate|none] [--page-host ::1] [--hand-over COMMAND]
//
// --extensions adds a step asserting what the browser's WebSockets negotiated (`WebSocket.extensions`, without
// parameters): "none" for an empty answer. --page-host is the address the test's own page is served from (default
// 127.0.0.1; "::1" for a run where every hop is IPv6). --hand-over runs COMMAND (a shell command that makes a new
// sipedged take the node over, and returns once the old one exited) while the call is up, then asserts that no
// WebSocket closed or was opened again, that alice's hang-up ends bob's call and that a MESSAGE still goes through.
//
// Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM); no browser is downloaded. Prints one line per step and
// a closing "N passed, N failed" line; exits non-zero when any step failed.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const { values: opts } = parseArgs({
  options: {
    ws: { type: 'string', default: 'ws://127.0.0.1:8080' },
    domain: { type: 'string', default: 'example.test' },
    stacks: { type: 'string', default: 'jssip,sipjs' },
    label: { type: 'string', default: 'server' },
    timeout: { type: 'string', default: '15000' },
    // Accept the server's self-signed certificate (wss:// tests with a certificate made for the test).
    insecure: { type: 'boolean', default: false },
    // The WebSocket extensions the server is expected to agree to ("none": none); unset: not checked.
    extensions: { type: 'string' },
    // The loopback address the page the SIP stacks run in is served from.
    'page-host': { type: 'string', default: '127.0.0.1' },
    // A shell command that hands the node over to a new process, run while the call is up.
    'hand-over': { type: 'string' },
  },
});
const stepTimeout = Number(opts.timeout);
const text = 'héllo ✓ 日本 — Grüße 🎉';

const server = createServer(async (req, res) => {
  if (req.url === '/') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><meta charset="utf-8"><title>sipedge browser test</title>');
    return;
  }
  const m = req.url.match(/^\/(jssip|sipjs)-client\.js$/);
  if (!m) {
    res.writeHead(404).end();
    return;
  }
  try {
    const body = await readFile(join(here, 'dist', `${m[1]}-client.js`));
    res.writeHead(200, { 'content-type': 'text/javascript' }).end(body);
  } catch {
    res.writeHead(500).end('bundle missing: run `node build.mjs`');
  }
});
const pageHost = opts['page-host'];
await new Promise((ok) => server.listen(0, pageHost, ok));
const origin = `http://${pageHost.includes(':') ? `[${pageHost}]` : pageHost}:${server.address().port}`;

// playwright gives the browser a fresh, empty profile directory of its own.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    ...(opts.insecure ? ['--ignore-certificate-errors'] : []),
  ],
});

let passed = 0;
let failed = 0;
const report = (ok, what, why = '') => {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${opts.label} ${what}${why ? `: ${why}` : ''}`);
  return ok;
};

async function openUser(stack, name) {
  const context = await browser.newContext();
  await context.grantPermissions(['microphone'], { origin });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`  [${name}] page error: ${e.message}`));
  // Every WebSocket the SIP stack opens is kept, so that what it negotiated can be read.
  await page.addInitScript(() => {
    const Native = window.WebSocket;
    window.sipTestSockets = [];
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        window.sipTestSockets.push(this);
      }
    };
  });
  await page.goto(`${origin}/`);
  await page.addScriptTag({ url: `${origin}/${stack}-client.js` });
  await page.waitForFunction(() => window.sipTest !== undefined, null, { timeout: stepTimeout });
  return { name, page, context };
}

async function waitEvent(user, type, detail) {
  try {
    await user.page.waitForFunction(
      ([t, d]) => window.sipTest.events.some((e) => e.type === t && (d === null || e.detail === d)),
      [type, detail ?? null],
      { timeout: stepTimeout, polling: 50 },
    );
    return null;
  } catch {
    const seen = await user.page.evaluate(() => window.sipTest.events.map((e) => `${e.type}(${e.detail})`));
    return `${user.name} did not see ${type}${detail ? ` "${detail}"` : ''}; saw: ${seen.join(', ')}`;
  }
}

async function step(what, fn) {
  try {
    const why = await fn();
    return report(!why, what, why || '');
  } catch (e) {
    return report(false, what, e.message);
  }
}

async function scenario(stack) {
  const tag = Math.random().toString(36).slice(2, 8);
  const alice = await openUser(stack, `alice${tag}`);
  const bob = await openUser(stack, `bob${tag}`);
  const uri = (u) => `sip:${u.name}@${opts.domain}`;
  try {
    const registered = await step(`${stack}: both users register`, async () => {
      for (const u of [alice, bob]) await u.page.evaluate(([w, n, d]) => window.sipTest.start(w, n, d), [opts.ws, u.name, opts.domain]);
      return (await waitEvent(alice, 'registered')) || (await waitEvent(bob, 'registered'));
    });
    if (!registered) return;
    if (opts.extensions !== undefined) {
      await step(`${stack}: WebSocket extensions are "${opts.extensions}"`, async () => {
        for (const u of [alice, bob]) {
          const got = await u.page.evaluate(() => window.sipTestSockets
            .filter((s) => s.readyState === 1).map((s) => s.extensions.split(';')[0].trim() || 'none'));
          if (got.length === 0 || got.some((e) => e !== opts.extensions)) return `${u.name}: ${got.join(', ') || 'no open WebSocket'}`;
        }
        return null;
      });
    }
    await step(`${stack}: UTF-8 MESSAGE alice -> bob`, async () => {
      await alice.page.evaluate(([t, m]) => window.sipTest.message(t, m), [uri(bob), text]);
      return (await waitEvent(bob, 'message:received', text)) || (await waitEvent(alice, 'message:sent'));
    });
    const answered = await step(`${stack}: call alice -> bob is answered`, async () => {
      await alice.page.evaluate((t) => window.sipTest.call(t), uri(bob));
      return (await waitEvent(bob, 'call:incoming')) || (await waitEvent(alice, 'call:confirmed')) || (await waitEvent(bob, 'call:confirmed'));
    });
    if (answered && opts['hand-over'] !== undefined) {
      await step(`${stack}: the node is handed over during the call; no WebSocket closes or opens again`, async () => {
        const sockets = async (u) => u.page.evaluate(() => window.sipTestSockets.map((s) => s.readyState));
        const before = [await sockets(alice), await sockets(bob)];
        execSync(opts['hand-over'], { stdio: 'inherit', timeout: 60000 });
        // A closed WebSocket would show within the keepalive's first ping; give the stacks a moment to notice.
        await new Promise((ok) => setTimeout(ok, 1500));
        const after = [await sockets(alice), await sockets(bob)];
        const same = JSON.stringify(after) === JSON.stringify(before) && after.flat().every((r) => r === 1);
        return same ? null : `WebSocket states before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`;
      });
      await step(`${stack}: MESSAGE bob -> alice after the hand-over`, async () => {
        await bob.page.evaluate(([t, m]) => window.sipTest.message(t, m), [uri(alice), text]);
        return (await waitEvent(alice, 'message:received', text)) || (await waitEvent(bob, 'message:sent'));
      });
    }
    if (answered) {
      await step(`${stack}: alice hangs up, both calls end`, async () => {
        await alice.page.evaluate(() => window.sipTest.hangup());
        return (await waitEvent(alice, 'call:ended')) || (await waitEvent(bob, 'call:ended'));
      });
    }
    await step(`${stack}: both users unregister`, async () => {
      for (const u of [alice, bob]) await u.page.evaluate(() => window.sipTest.stop());
      return (await waitEvent(alice, 'unregistered')) || (await waitEvent(bob, 'unregistered'));
    });
  } finally {
    await alice.context.close();
    await bob.context.close();
  }
}

try {
  for (const stack of opts.stacks.split(',')) await scenario(stack.trim());
} finally {
  await browser.close();
  server.close();
}
console.log(`browser ${opts.label}: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
