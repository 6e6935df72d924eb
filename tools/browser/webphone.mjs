// End-to-end test of the web phone (deploy/webphone) as a user drives it: two Chromium pages load the phone
// from sipedge, register two users by typing into the form and clicking Register, exchange a UTF-8 message, call
// and answer, hang up, and unregister. Every step asserts what the page shows. Starts no server itself.
//
//   node webphone.mjs --phone http://127.0.0.1:8080/phone/ --ws ws://127.0.0.1:8080/ \
//     [--domain example.test] [--label sipedge] [--users alice,bob] [--screenshot docs/screenshots] [--timeout 15000]
//
// User names default to alice<random>,bob<random> so that runs against one long-lived server do not collide.
//
// Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM) with fake media devices. Prints one line per step and a
// closing "N passed, M failed" line; exits non-zero when any step failed.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: opts } = parseArgs({
  options: {
    phone: { type: 'string', default: 'http://127.0.0.1:8080/phone/' },
    ws: { type: 'string', default: '' },
    domain: { type: 'string', default: 'example.test' },
    label: { type: 'string', default: 'webphone' },
    users: { type: 'string', default: '' },
    screenshot: { type: 'string', default: '' },
    timeout: { type: 'string', default: '15000' },
  },
});
const timeout = Number(opts.timeout);
const phoneUrl = new URL(opts.phone);
const text = 'héllo ✓ 日本 — Grüße 🎉';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  ],
});

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

/** Waits until `selector`'s text matches `pattern`; returns null, or what was shown instead. */
async function shows(user, selector, pattern) {
  const node = user.page.locator(selector);
  try {
    await user.page.waitForFunction(
      ([sel, src, flags]) => new RegExp(src, flags).test(document.querySelector(sel)?.textContent ?? ''),
      [selector, pattern.source, pattern.flags],
      { timeout, polling: 50 },
    );
    return null;
  } catch {
    return `${user.name}'s ${selector} shows "${await node.textContent().catch(() => '?')}", not ${pattern}`;
  }
}

async function openUser(name) {
  const context = await browser.newContext({ viewport: { width: 640, height: 860 } });
  await context.grantPermissions(['microphone'], { origin: phoneUrl.origin });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`  [${name}] page error: ${e.message}`));
  return { name, page, context };
}

const tag = Math.random().toString(36).slice(2, 7);
const [aliceName, bobName] = opts.users ? opts.users.split(',') : [`alice${tag}`, `bob${tag}`];
const alice = await openUser(aliceName);
const bob = await openUser(bobName);
const users = [alice, bob];
const shots = {};

try {
  const loaded = await step('both pages load the phone', async () => {
    for (const u of users) {
      const response = await u.page.goto(opts.phone, { waitUntil: 'load', timeout });
      if (!response || response.status() !== 200) return `GET ${opts.phone}: HTTP ${response && response.status()}`;
      if ((await u.page.title()) !== 'sipedge web phone') return `title is "${await u.page.title()}"`;
      const why = await shows(u, '#registration-status', /^not registered$/);
      if (why) return why;
      const server = await u.page.inputValue('#server');
      const expected = `${phoneUrl.protocol === 'https:' ? 'wss' : 'ws'}://${phoneUrl.host}/`;
      if (server !== expected) return `server field defaults to "${server}", not the page's origin ${expected}`;
    }
    return null;
  });
  if (!loaded) throw new Error('phone not loaded');

  await step('registering against a server that is not there fails visibly', async () => {
    await alice.page.fill('#server', 'ws://127.0.0.1:1/');
    await alice.page.fill('#user', alice.name);
    await alice.page.click('#register');
    const why = await shows(alice, '#registration-status', /^(server unreachable: ws:\/\/127\.0\.0\.1:1\/|registration failed: )/);
    if (why) return why;
    const state = await alice.page.getAttribute('#registration-status', 'data-state');
    return state === 'error' ? null : `registration status state is "${state}", not "error"`;
  });

  const registered = await step('both users register through the form', async () => {
    for (const u of users) {
      if (opts.ws) await u.page.fill('#server', opts.ws);
      await u.page.fill('#domain', opts.domain);
      await u.page.fill('#user', u.name);
      await u.page.click('#register');
    }
    for (const u of users) {
      const why = await shows(u, '#registration-status', new RegExp(`^registered as ${u.name}@`));
      if (why) return why;
      if (!(await u.page.isEnabled('#call-button'))) return `${u.name}: Call is still disabled`;
    }
    return null;
  });
  if (!registered) throw new Error('not registered');

  await step('a UTF-8 message from alice shows in bob\'s log', async () => {
    await alice.page.fill('#dial', bob.name);
    await alice.page.fill('#message', text);
    await alice.page.click('#send');
    const why = await shows(bob, '#message-log li[data-direction="in"] .text', new RegExp(`^${text}$`, 'u'));
    if (why) return why;
    return (
      (await shows(bob, '#message-log li[data-direction="in"] .peer', new RegExp(`^from ${alice.name}$`))) ||
      (await shows(alice, '#message-log li[data-direction="out"] .delivery', /^delivered$/))
    );
  });

  await step('a call to an unknown user fails visibly', async () => {
    await alice.page.fill('#dial', `nobody${tag}`);
    await alice.page.click('#call-button');
    return shows(alice, '#call-status', /^call failed: (404|480)\b/);
  });

  const answered = await step('alice calls bob, bob answers, both show "in call"', async () => {
    await alice.page.fill('#dial', bob.name);
    await alice.page.click('#call-button');
    const why = await shows(bob, '#call-status', new RegExp(`^incoming call from ${alice.name}$`));
    if (why) return why;
    if (!(await bob.page.isEnabled('#answer'))) return 'bob: Answer is disabled for an incoming call';
    await bob.page.click('#answer');
    return (
      (await shows(alice, '#call-status', new RegExp(`^in call with ${bob.name}$`))) ||
      (await shows(bob, '#call-status', new RegExp(`^in call with ${alice.name}$`))) ||
      ((await alice.page.isEnabled('#hangup')) ? null : 'alice: Hang up is disabled during the call')
    );
  });
  if (answered && opts.screenshot) {
    for (const u of users) shots[u.name] = await u.page.screenshot({ fullPage: true });
  }

  if (answered) {
    await step('alice hangs up, both show the call ended', async () => {
      await alice.page.click('#hangup');
      return (
        (await shows(alice, '#call-status', /^call ended: you hung up$/)) ||
        (await shows(bob, '#call-status', new RegExp(`^call ended: ${alice.name} hung up$`)))
      );
    });
  }

  await step('both users unregister', async () => {
    for (const u of users) await u.page.click('#unregister');
    for (const u of users) {
      const why = await shows(u, '#registration-status', /^not registered$/);
      if (why) return why;
    }
    return null;
  });
} catch (e) {
  if (!/^phone not loaded|^not registered/.test(e.message)) report(e);
} finally {
  if (opts.screenshot && Object.keys(shots).length === 2) await sideBySide(shots, join(opts.screenshot, 'webphone.png'));
  for (const u of users) await u.context.close();
  await browser.close();
}

function report(e) {
  failed++;
  console.log(`FAIL ${opts.label} unexpected error: ${e.message}`);
}

/** Both users' pages in one picture, side by side. */
async function sideBySide(images, file) {
  await mkdir(opts.screenshot, { recursive: true });
  const context = await browser.newContext({ viewport: { width: 1330, height: 800 } });
  const page = await context.newPage();
  const cells = Object.entries(images)
    .map(([name, png]) => `<figure><figcaption>${name}</figcaption><img src="data:image/png;base64,${png.toString('base64')}"></figure>`)
    .join('');
  await page.setContent(`<!doctype html><style>body{margin:0;padding:10px;background:#c9d1dc;display:flex;gap:10px;
    font:13px system-ui;width:max-content}figure{margin:0}figcaption{padding:2px 4px;color:#333}img{display:block;width:640px;
    border:1px solid #99a}</style>${cells}`);
  await page.locator('body').screenshot({ path: file });
  await context.close();
  console.log(`screenshot: ${file}`);
}

console.log(`webphone ${opts.label}: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
