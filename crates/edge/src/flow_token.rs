//! RFC 5626 flow tokens: the edge names each WebSocket flow in the Path and Record-Route URIs it inserts, so that
//! requests coming back from the core find the same connection, on the same worker, with no shared state.
//!
//! A token is `base64url(fields ‖ epoch ‖ HMAC-SHA256(key, fields ‖ epoch)[..MAC_LEN])` where `fields` is the node
//! id, worker, connection slot, slot generation and a flags byte, and `epoch` is random per process start. The MAC
//! makes tokens unforgeable; the generation makes a token of a closed connection stale even when its slot has been
//! reused; the epoch makes a token of an earlier start stale even when slots and generations have begun again from
//! the same values and the key is a fixed `flow_token_secret` (RFC 5626 §5.3: the flow no longer exists, 430).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of the truncated HMAC kept in a token (96 bits).
pub const MAC_LEN: usize = 12;
const FIELDS_LEN: usize = 4 + 2 + 4 + 4 + 1;
const EPOCH_LEN: usize = 4;
const SEALED_LEN: usize = FIELDS_LEN + EPOCH_LEN;
const TOKEN_BYTES: usize = SEALED_LEN + MAC_LEN;
/// Length of an encoded token in characters.
pub const TOKEN_LEN: usize = (TOKEN_BYTES * 4).div_ceil(3);

const FLAG_OUTBOUND: u8 = 1;
const FLAG_SECURE: u8 = 2;

/// One start of the edge process: random per start (from the OS), the same in every worker of that start. Tokens
/// of another epoch are stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Epoch(pub u32);

/// Which flow a token names: the connection `slot` (with its `generation`) on `worker` of edge node `node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowId {
    /// The edge node that holds the flow (several nodes may share one core).
    pub node: u32,
    /// The worker thread that owns the connection.
    pub worker: u16,
    /// The connection's slot in that worker.
    pub slot: u32,
    /// The slot's generation when the connection was opened.
    pub generation: u32,
    /// The client supports RFC 5626 outbound (it registered with `reg-id` / `+sip.instance`, or sent `;ob`).
    pub outbound: bool,
    /// The connection is a secure WebSocket (wss): our Via toward it says `WSS`, our URIs for it are `sips:`
    /// (RFC 7118 §5).
    pub secure: bool,
}

impl FlowId {
    /// Whether `self` and `other` name the same connection (whatever their `outbound` flags say).
    pub fn same_connection(&self, other: &FlowId) -> bool {
        (self.node, self.worker, self.slot, self.generation)
            == (other.node, other.worker, other.slot, other.generation)
    }
}

/// Why a flow token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FlowTokenError {
    /// Not the length of a token, or not base64url.
    #[error("flow token is not well-formed (RFC 5626 §5.2)")]
    Malformed,
    /// The MAC does not match: forged, or made with another key.
    #[error("flow token MAC does not verify (RFC 5626 §5.2: forged or foreign token)")]
    BadMac,
    /// Minted by another start of the edge (or another node): whatever connection it named is gone, even if its
    /// slot and generation exist again now. Checked before the MAC, which a token of a start with a random key
    /// cannot pass anyway.
    #[error(
        "flow token is from another start of the edge (RFC 5626 §5.3: the flow no longer exists)"
    )]
    Stale,
}

/// The secret that seals and opens flow tokens, and the epoch of this start.
#[derive(Clone)]
pub struct FlowTokenKey {
    mac: Hmac<Sha256>,
    epoch: Epoch,
}

impl std::fmt::Debug for FlowTokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlowTokenKey(..)")
    }
}

impl FlowTokenKey {
    /// A key from a configured secret (any length), for the start `epoch`.
    pub fn new(secret: &[u8], epoch: Epoch) -> Self {
        // HMAC accepts keys of any length; the error arm cannot happen for Hmac<Sha256>.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
        Self { mac, epoch }
    }

    /// The start this key seals tokens for.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Encode `flow` as a token (URL-safe, fits in a SIP URI user part or parameter).
    pub fn seal(&self, flow: &FlowId) -> String {
        let mut raw = [0u8; TOKEN_BYTES];
        raw[0..4].copy_from_slice(&flow.node.to_be_bytes());
        raw[4..6].copy_from_slice(&flow.worker.to_be_bytes());
        raw[6..10].copy_from_slice(&flow.slot.to_be_bytes());
        raw[10..14].copy_from_slice(&flow.generation.to_be_bytes());
        raw[14] = (if flow.outbound { FLAG_OUTBOUND } else { 0 })
            | (if flow.secure { FLAG_SECURE } else { 0 });
        raw[FIELDS_LEN..SEALED_LEN].copy_from_slice(&self.epoch.0.to_be_bytes());
        let tag = self.tag(&raw[..SEALED_LEN]);
        raw[SEALED_LEN..].copy_from_slice(&tag[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Decode and verify a token: malformed, then of another epoch (stale), then the MAC.
    pub fn open(&self, token: &str) -> Result<FlowId, FlowTokenError> {
        if token.len() != TOKEN_LEN {
            return Err(FlowTokenError::Malformed);
        }
        let mut raw = [0u8; TOKEN_BYTES];
        match URL_SAFE_NO_PAD.decode_slice(token.as_bytes(), &mut raw) {
            Ok(TOKEN_BYTES) => {}
            _ => return Err(FlowTokenError::Malformed),
        }
        let (sealed, mac) = raw.split_at(SEALED_LEN);
        if sealed[FIELDS_LEN..] != self.epoch.0.to_be_bytes() {
            return Err(FlowTokenError::Stale);
        }
        let mut check = self.mac.clone();
        check.update(sealed);
        check
            .verify_truncated_left(mac)
            .map_err(|_| FlowTokenError::BadMac)?;
        let fields = &sealed[..FIELDS_LEN];
        let be32 = |at: usize| {
            u32::from_be_bytes([fields[at], fields[at + 1], fields[at + 2], fields[at + 3]])
        };
        Ok(FlowId {
            node: be32(0),
            worker: u16::from_be_bytes([fields[4], fields[5]]),
            slot: be32(6),
            generation: be32(10),
            outbound: fields[14] & FLAG_OUTBOUND != 0,
            secure: fields[14] & FLAG_SECURE != 0,
        })
    }

    fn tag(&self, sealed: &[u8]) -> [u8; 32] {
        let mut m = self.mac.clone();
        m.update(sealed);
        m.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> FlowTokenKey {
        FlowTokenKey::new(b"test secret", Epoch(1))
    }

    #[test]
    fn token_has_documented_length_and_alphabet() {
        let t = key().seal(&FlowId {
            node: 7,
            worker: 1,
            slot: 2,
            generation: 3,
            outbound: false,
            secure: false,
        });
        assert_eq!(t.len(), TOKEN_LEN);
        assert_eq!(TOKEN_LEN, 42);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{t}"
        );
    }

    #[test]
    fn other_key_is_bad_mac() {
        let flow = FlowId {
            node: 1,
            worker: 0,
            slot: 1,
            generation: 1,
            outbound: true,
            secure: false,
        };
        let t = key().seal(&flow);
        assert_eq!(
            FlowTokenKey::new(b"other", Epoch(1)).open(&t),
            Err(FlowTokenError::BadMac)
        );
    }

    /// Issue 19 item 3: slots and generations begin again at each start, so with a fixed `flow_token_secret` a
    /// token minted before a restart named whichever new connection holds the same slot and generation.
    #[test]
    fn a_token_minted_before_a_restart_with_the_same_secret_is_stale_not_a_new_connection() {
        let flow = FlowId {
            node: 1,
            worker: 0,
            slot: 17,
            generation: 3,
            outbound: true,
            secure: false,
        };
        let before = FlowTokenKey::new(b"fixed flow_token_secret", Epoch(0x1234_5678));
        let after = FlowTokenKey::new(b"fixed flow_token_secret", Epoch(0x9abc_def0));
        let stale = before.seal(&flow);
        assert_eq!(after.open(&stale), Err(FlowTokenError::Stale));
        // The new start's own token for the same slot and generation is a different string, and opens.
        let fresh = after.seal(&flow);
        assert_ne!(fresh, stale);
        assert_eq!(after.open(&fresh), Ok(flow));
        assert_eq!(before.open(&fresh), Err(FlowTokenError::Stale));
    }

    #[test]
    fn a_token_of_this_epoch_with_a_forged_epoch_field_does_not_verify() {
        let flow = FlowId {
            node: 1,
            worker: 0,
            slot: 5,
            generation: 9,
            outbound: false,
            secure: false,
        };
        // Rewriting the epoch bytes of another start's token to this one's breaks the MAC.
        let other = FlowTokenKey::new(b"test secret", Epoch(2));
        let mut raw = URL_SAFE_NO_PAD
            .decode(other.seal(&flow))
            .unwrap_or_default();
        raw[FIELDS_LEN..SEALED_LEN].copy_from_slice(&1u32.to_be_bytes());
        assert_eq!(
            key().open(&URL_SAFE_NO_PAD.encode(raw)),
            Err(FlowTokenError::BadMac)
        );
    }

    #[test]
    fn malformed_tokens() {
        assert_eq!(key().open(""), Err(FlowTokenError::Malformed));
        assert_eq!(key().open("abc"), Err(FlowTokenError::Malformed));
        assert_eq!(
            key().open(&"*".repeat(TOKEN_LEN)),
            Err(FlowTokenError::Malformed)
        );
    }

    proptest! {
        #[test]
        fn round_trip(node: u32, worker: u16, slot: u32, generation: u32, outbound: bool, secure: bool) {
            let flow = FlowId { node, worker, slot, generation, outbound, secure };
            prop_assert_eq!(key().open(&key().seal(&flow)), Ok(flow));
        }

        #[test]
        fn any_single_character_change_is_rejected(pos in 0..TOKEN_LEN, repl in "[A-Za-z0-9_-]") {
            let flow = FlowId { node: 9, worker: 3, slot: 1234, generation: 99, outbound: true, secure: false };
            let t = key().seal(&flow);
            let mut bytes = t.clone().into_bytes();
            bytes[pos] = repl.as_bytes()[0];
            let forged = String::from_utf8(bytes).unwrap_or_default();
            prop_assume!(forged != t);
            prop_assert!(key().open(&forged).is_err());
        }
    }
}
