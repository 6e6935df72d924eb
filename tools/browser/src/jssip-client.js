// A JsSIP user agent with JsSIP's default settings, driven by the test through window.sipTest.
import JsSIP from 'jssip';

const events = [];
const log = (type, detail = '') => events.push({ type, detail: String(detail), at: Date.now() });
let ua;
let session;

function track(s) {
  session = s;
  s.on('progress', () => log('call:progress'));
  s.on('accepted', () => log('call:accepted'));
  s.on('confirmed', () => log('call:confirmed'));
  s.on('ended', (e) => log('call:ended', e.cause));
  s.on('failed', (e) => log('call:failed', e.cause));
}

window.sipTest = {
  events,
  start(wsUrl, user, domain) {
    const socket = new JsSIP.WebSocketInterface(wsUrl);
    ua = new JsSIP.UA({ sockets: [socket], uri: `sip:${user}@${domain}` });
    ua.on('connected', () => log('connected'));
    ua.on('disconnected', () => log('disconnected'));
    ua.on('registered', () => log('registered'));
    ua.on('unregistered', () => log('unregistered'));
    ua.on('registrationFailed', (e) => log('registrationFailed', e.cause));
    ua.on('newMessage', (e) => {
      if (e.originator === 'remote') log('message:received', e.request.body);
    });
    ua.on('newRTCSession', (e) => {
      if (e.originator === 'remote') {
        track(e.session);
        log('call:incoming', e.request.from.uri.user);
        e.session.answer({ mediaConstraints: { audio: true, video: false } });
      }
    });
    ua.start();
  },
  message(target, text) {
    ua.sendMessage(target, text, {
      eventHandlers: {
        succeeded: () => log('message:sent'),
        failed: (e) => log('message:failed', e.cause),
      },
    });
  },
  call(target) {
    track(ua.call(target, { mediaConstraints: { audio: true, video: false } }));
  },
  hangup() {
    if (session) session.terminate();
  },
  stop() {
    ua.stop();
  },
};
log('ready');
