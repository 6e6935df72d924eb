//! Close status codes (RFC 6455 §7.4).

/// Normal closure.
pub const NORMAL: u16 = 1000;
/// The endpoint is going away (server shutdown, page navigation).
pub const GOING_AWAY: u16 = 1001;
/// The peer broke the protocol.
pub const PROTOCOL_ERROR: u16 = 1002;
/// Reported, never sent: the Close frame had no status code (§7.1.5).
pub const NO_STATUS_RECEIVED: u16 = 1005;
/// Reported, never sent: the connection ended without a Close frame (§7.1.5).
pub const ABNORMAL_CLOSURE: u16 = 1006;
/// A text message carried invalid UTF-8 (§8.1).
pub const INVALID_PAYLOAD: u16 = 1007;
/// The peer broke a policy of this endpoint (a rate, an expired credential).
pub const POLICY_VIOLATION: u16 = 1008;
/// A message or frame exceeded what this endpoint accepts.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The server hit an unexpected condition.
pub const INTERNAL_ERROR: u16 = 1011;

/// Whether `code` may appear in a Close frame on the wire.
///
/// Defined codes 1000–1003 and 1007–1011, plus the registered (3000–3999) and private (4000–4999)
/// ranges. 1004–1006 and 1015 are reserved and must never be sent; everything else is undefined.
pub fn is_valid_on_wire(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_defined_and_application_codes() {
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
        ] {
            assert!(is_valid_on_wire(code), "{code}");
        }
    }

    #[test]
    fn rejects_reserved_and_undefined_codes() {
        for code in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!is_valid_on_wire(code), "{code}");
        }
    }
}
