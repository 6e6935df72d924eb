// The page: fills the form defaults, renders what the Phone reports, and enables only the buttons that make sense
// in the current registration and call state.
import { Phone } from './phone.js';

const $ = (id) => document.getElementById(id);
const el = {
  server: $('server'),
  domain: $('domain'),
  user: $('user'),
  registerForm: $('register-form'),
  unregister: $('unregister'),
  registration: $('registration-status'),
  dial: $('dial'),
  call: $('call-button'),
  answer: $('answer'),
  hangup: $('hangup'),
  callStatus: $('call-status'),
  audio: $('remote-audio'),
  messageForm: $('message-form'),
  message: $('message'),
  send: $('send'),
  log: $('message-log'),
};

// Defaults: the WebSocket on this page's own origin (sipedge serves the phone on its WebSocket port); query
// parameters ?server=&domain=&user=&to= prefill the form.
const query = new URLSearchParams(location.search);
el.server.value = query.get('server') || `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
el.domain.value = query.get('domain') || location.hostname || 'example.test';
el.user.value = query.get('user') || '';
el.dial.value = query.get('to') || '';

let callState = 'idle';
const rows = new Map();

function show(node, state, text) {
  node.dataset.state = state;
  node.textContent = text;
}

function refreshButtons() {
  const registered = phone.registered;
  const inSession = phone.session !== null;
  el.unregister.disabled = phone.ua === null;
  el.call.disabled = !registered || inSession || callState === 'starting';
  el.answer.disabled = callState !== 'incoming';
  el.hangup.disabled = !inSession;
  el.send.disabled = !registered;
}

function logEntry(entry) {
  let row = rows.get(entry);
  if (!row) {
    row = document.createElement('li');
    row.dataset.direction = entry.direction;
    const who = document.createElement('span');
    who.className = 'peer';
    who.textContent = entry.direction === 'in' ? `from ${entry.peer}` : `to ${entry.peer}`;
    const text = document.createElement('span');
    text.className = 'text';
    text.textContent = entry.text;
    const state = document.createElement('span');
    state.className = 'delivery';
    row.append(who, text, state);
    rows.set(entry, row);
    el.log.append(row);
  }
  row.dataset.state = entry.state;
  row.querySelector('.delivery').textContent = entry.state;
}

const phone = new Phone({
  registration(state, text) {
    show(el.registration, state, text);
    refreshButtons();
  },
  call(state, text) {
    callState = state;
    show(el.callStatus, state, text);
    refreshButtons();
  },
  message(entry) {
    logEntry(entry);
  },
  remoteStream(stream) {
    el.audio.srcObject = stream;
    if (stream) el.audio.play().catch(() => {});
  },
});

el.registerForm.addEventListener('submit', (e) => {
  e.preventDefault();
  phone.register({ server: el.server.value.trim(), domain: el.domain.value.trim(), user: el.user.value.trim() });
  refreshButtons();
});
el.unregister.addEventListener('click', () => phone.unregister());
el.call.addEventListener('click', () => phone.call(el.dial.value));
el.answer.addEventListener('click', () => phone.answer());
el.hangup.addEventListener('click', () => phone.hangup());
el.messageForm.addEventListener('submit', (e) => {
  e.preventDefault();
  if (!el.message.value) return;
  phone.message(el.dial.value, el.message.value);
  el.message.value = '';
});
window.addEventListener('beforeunload', () => phone.drop());
refreshButtons();
