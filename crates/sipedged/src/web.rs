//! Plain HTTP on the WebSocket port: requests that are not a WebSocket upgrade (the web phone at `/phone/`).
//!
//! Placeholder: answers nothing, so every request goes to the WebSocket handshake (which refuses non-upgrades).

/// What the HTTP side serves.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Directory served at `/phone/`.
    pub phone_dir: Option<std::path::PathBuf>,
}

/// The answer to `head` (the first bytes of a connection) when it is a complete HTTP request that is not a
/// WebSocket upgrade and that this module serves; `None` hands the bytes to the WebSocket handshake.
pub fn respond(head: &[u8], cfg: &WebConfig) -> Option<Vec<u8>> {
    let _ = (head, cfg.phone_dir.as_ref());
    None
}
