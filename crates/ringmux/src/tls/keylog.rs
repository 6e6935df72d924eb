//! The TLS 1.3 traffic secrets a server handshake derives, caught as rustls logs them ([`KeyLog`]), so that the
//! record layer that takes over after the handshake (`records`) can answer a KeyUpdate.
//!
//! rustls logs them while the worker drives the session (within `process_tls_records`), on the worker's
//! thread: they are kept in a thread-local slot, which the session empties after every call into rustls.

use std::cell::RefCell;

use rustls::KeyLog;

use super::records::Secret;

const CLIENT: &str = "CLIENT_TRAFFIC_SECRET_0";
const SERVER: &str = "SERVER_TRAFFIC_SECRET_0";

/// The first application traffic secrets of a handshake: the client's, the server's.
#[derive(Default)]
pub(crate) struct TrafficSecrets {
    pub(crate) client: Secret,
    pub(crate) server: Secret,
}

thread_local! {
    static CAUGHT: RefCell<Option<Box<TrafficSecrets>>> = const { RefCell::new(None) };
}

/// Takes the secrets logged on this thread since the last call.
pub(crate) fn take() -> Option<Box<TrafficSecrets>> {
    CAUGHT.with(|c| c.borrow_mut().take())
}

/// The [`KeyLog`] of ringmux's server configuration: keeps the two traffic secrets, nothing else, and writes
/// nothing anywhere.
#[derive(Debug)]
pub(crate) struct CatchTrafficSecrets;

impl KeyLog for CatchTrafficSecrets {
    fn log(&self, label: &str, _client_random: &[u8], secret: &[u8]) {
        CAUGHT.with(|c| {
            let mut c = c.borrow_mut();
            let caught = c.get_or_insert_with(Box::default);
            match label {
                CLIENT => caught.client = Secret::new(secret),
                SERVER => caught.server = Secret::new(secret),
                _ => {}
            }
        });
    }

    fn will_log(&self, label: &str) -> bool {
        label == CLIENT || label == SERVER
    }
}
