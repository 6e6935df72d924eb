// A SIP.js SimpleUser with SIP.js's default settings, driven by the test through window.sipTest.
import { Web } from 'sip.js';

const events = [];
const log = (type, detail = '') => events.push({ type, detail: String(detail), at: Date.now() });
let user;

window.sipTest = {
  events,
  async start(wsUrl, name, domain) {
    user = new Web.SimpleUser(wsUrl, {
      aor: `sip:${name}@${domain}`,
      media: { constraints: { audio: true, video: false } },
      delegate: {
        onServerConnect: () => log('connected'),
        onServerDisconnect: () => log('disconnected'),
        onRegistered: () => log('registered'),
        onUnregistered: () => log('unregistered'),
        onMessageReceived: (text) => log('message:received', text),
        onCallReceived: async () => {
          log('call:incoming');
          try {
            await user.answer();
          } catch (e) {
            log('call:failed', e);
          }
        },
        onCallAnswered: () => log('call:confirmed'),
        onCallHangup: () => log('call:ended'),
      },
    });
    try {
      await user.connect();
      await user.register({
        requestDelegate: { onReject: (r) => log('registrationFailed', r.message.statusCode) },
      });
    } catch (e) {
      log('registrationFailed', e);
    }
  },
  async message(target, text) {
    try {
      await user.message(target, text);
      log('message:sent');
    } catch (e) {
      log('message:failed', e);
    }
  },
  async call(target) {
    try {
      await user.call(target, undefined, {
        requestDelegate: { onReject: (r) => log('call:failed', r.message.statusCode) },
      });
    } catch (e) {
      log('call:failed', e);
    }
  },
  async hangup() {
    await user.hangup();
  },
  async stop() {
    await user.unregister().catch(() => {});
    await user.disconnect().catch(() => {});
  },
};
log('ready');
