// The SIP side of the web phone: one JsSIP user agent with its registration, at most one call, and text
// MESSAGEs. It knows nothing of the page: it reports states and texts to the listener, app.js renders them.
import JsSIP from 'jssip';

/** What a failed SIP exchange looks like to a user: "404 Not Found", else JsSIP's cause ("Connection Error"). */
function reason(e) {
  const r = e && (e.response || e.message);
  if (r && r.status_code) return `${r.status_code} ${r.reason_phrase || ''}`.trim();
  return (e && e.cause) || 'unknown error';
}

async function microphone() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error('this page has no access to media devices (it needs http://localhost or https)');
  }
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
  } catch (e) {
    throw new Error(`microphone unavailable (${e.name})`);
  }
}

const stopTracks = (stream) => stream && stream.getTracks().forEach((t) => t.stop());

export class Phone {
  /**
   * @param {{registration(state: string, text: string): void, call(state: string, text: string): void,
   *          message(entry: object): void, remoteStream(stream: MediaStream | null): void}} listener
   */
  constructor(listener) {
    this.listener = listener;
    this.ua = null;
    this.domain = '';
    this.registered = false;
    this.stopping = false;
    this.session = null;
    this.peer = '';
    this.local = null;
  }

  /** A dial string as a SIP URI: `bob` -> `sip:bob@<domain>`, `bob@host` -> `sip:bob@host`. */
  target(dial) {
    const d = dial.trim();
    if (/^sips?:/i.test(d)) return d;
    return d.includes('@') ? `sip:${d}` : `sip:${d}@${this.domain}`;
  }

  register({ server, domain, user }) {
    this.drop();
    this.domain = domain;
    let ua;
    try {
      const socket = new JsSIP.WebSocketInterface(server);
      ua = new JsSIP.UA({ sockets: [socket], uri: `sip:${user}@${domain}` });
    } catch (e) {
      this.setRegistration('error', `registration failed: ${e.message || e}`);
      return;
    }
    this.ua = ua;
    const mine = (fn) => (...args) => {
      if (this.ua === ua) fn(...args);
    };
    ua.on('connecting', mine(() => this.setRegistration('connecting', `connecting to ${server} …`)));
    ua.on('connected', mine(() => this.setRegistration('registering', `registering as ${user}@${domain} …`)));
    ua.on('disconnected', mine(() => {
      if (this.stopping) return this.finishStop();
      this.registered = false;
      this.setRegistration('error', `server unreachable: ${server} (retrying)`);
    }));
    ua.on('registered', mine(() => {
      this.registered = true;
      this.setRegistration('registered', `registered as ${user}@${domain}`);
    }));
    ua.on('unregistered', mine(() => {
      this.registered = false;
      if (this.stopping) return this.finishStop();
      this.setRegistration('idle', 'not registered');
    }));
    ua.on('registrationFailed', mine((e) => {
      this.registered = false;
      this.setRegistration('error', `registration failed: ${reason(e)}`);
    }));
    ua.on('newMessage', mine((e) => {
      if (e.originator !== 'remote') return;
      this.listener.message({ direction: 'in', peer: e.request.from.uri.user, text: e.request.body || '', state: '' });
    }));
    ua.on('newRTCSession', mine((e) => this.track(e.session, e.originator)));
    ua.start();
  }

  unregister() {
    if (!this.ua) return;
    this.stopping = true;
    this.setRegistration('unregistering', 'unregistering …');
    this.ua.stop();
  }

  /** Forget the current user agent at once (a new registration replaces it). */
  drop() {
    if (this.ua) this.ua.stop();
    this.ua = null;
    this.registered = false;
    this.stopping = false;
  }

  finishStop() {
    this.ua = null;
    this.registered = false;
    this.stopping = false;
    this.setRegistration('idle', 'not registered');
  }

  async call(dial) {
    if (!this.registered || this.session) return;
    if (!dial.trim()) return this.setCall('error', 'call failed: nobody to call (fill in “To”)');
    const uri = this.target(dial);
    this.setCall('starting', `calling ${dial.trim()} …`);
    let stream;
    try {
      stream = await microphone();
    } catch (e) {
      return this.setCall('error', `call failed: ${e.message}`);
    }
    try {
      this.local = stream;
      this.ua.call(uri, { mediaStream: stream });
    } catch (e) {
      stopTracks(stream);
      this.local = null;
      this.setCall('error', `call failed: ${e.message || e}`);
    }
  }

  async answer() {
    const s = this.session;
    if (!s || s.direction !== 'incoming' || s.isEstablished()) return;
    this.setCall('answering', `answering ${this.peer} …`);
    try {
      this.local = await microphone();
      s.answer({ mediaStream: this.local });
    } catch (e) {
      this.setCall('error', `answer failed: ${e.message}`);
      if (this.session === s) s.terminate();
    }
  }

  hangup() {
    if (this.session) this.session.terminate();
  }

  message(dial, text) {
    if (!this.registered || !text) return;
    if (!dial.trim()) return this.setCall('error', 'message not sent: nobody to send to (fill in “To”)');
    const entry = { direction: 'out', peer: dial.trim(), text, state: 'sending' };
    this.listener.message(entry);
    const update = (state) => {
      entry.state = state;
      this.listener.message(entry);
    };
    try {
      this.ua.sendMessage(this.target(dial), text, {
        contentType: 'text/plain;charset=utf-8',
        eventHandlers: {
          succeeded: () => update('delivered'),
          failed: (e) => update(`not delivered: ${reason(e)}`),
        },
      });
    } catch (e) {
      update(`not delivered: ${e.message || e}`);
    }
  }

  track(session, originator) {
    if (this.session) {
      // One call at a time: a second caller hears busy.
      if (originator === 'remote') session.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
      return;
    }
    this.session = session;
    this.peer = session.remote_identity.uri.user;
    const attach = (pc) => pc.addEventListener('track', (t) => this.listener.remoteStream(t.streams[0] || null));
    if (session.connection) attach(session.connection);
    else session.on('peerconnection', (e) => attach(e.peerconnection));
    const done = (state, text) => {
      if (this.session !== session) return;
      this.session = null;
      stopTracks(this.local);
      this.local = null;
      this.listener.remoteStream(null);
      this.setCall(state, text);
    };
    if (originator === 'remote') this.setCall('incoming', `incoming call from ${this.peer}`);
    else this.setCall('calling', `calling ${this.peer} …`);
    session.on('progress', () => {
      if (originator === 'local') this.setCall('ringing', `ringing ${this.peer} …`);
    });
    session.on('accepted', () => this.setCall('in-call', `in call with ${this.peer}`));
    session.on('confirmed', () => this.setCall('in-call', `in call with ${this.peer}`));
    session.on('ended', (e) =>
      done('ended', `call ended: ${e.originator === 'local' ? 'you hung up' : `${this.peer} hung up`}`));
    session.on('failed', (e) => {
      if (e.cause === JsSIP.C.causes.CANCELED) return done('ended', 'call ended: cancelled');
      done('failed', `call failed: ${reason(e)}`);
    });
  }

  setRegistration(state, text) {
    this.listener.registration(state, text);
  }

  setCall(state, text) {
    this.listener.call(state, text);
  }
}
