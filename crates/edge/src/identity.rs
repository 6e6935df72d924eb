//! Identity bound to a flow at the WebSocket handshake (RFC 7118 §7: the web application authenticates the
//! user once, with a cookie or a token): REGISTER's To and every request's From must name it.

use crate::time::Timestamp;

/// Who a flow may speak for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user part of the allowed address of record (compared case-sensitively, RFC 3261 §19.1.4).
    pub user: String,
    /// Domains the user may use (compared case-insensitively); empty allows any.
    pub domains: Vec<String>,
    /// When the credential stops being valid, on the edge's clock; after it, REGISTER gets 403.
    pub expires_at: Option<Timestamp>,
}

impl Identity {
    /// Whether `user@host` is this identity.
    pub fn permits(&self, user: &[u8], host: &[u8]) -> bool {
        self.user.as_bytes() == user
            && (self.domains.is_empty()
                || self
                    .domains
                    .iter()
                    .any(|d| d.as_bytes().eq_ignore_ascii_case(host)))
    }

    /// Whether the credential has expired at `now`.
    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|e| now >= e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_exact_domain_case_insensitive() {
        let id = Identity {
            user: "alice".into(),
            domains: vec!["Example.com".into()],
            expires_at: None,
        };
        assert!(id.permits(b"alice", b"example.COM"));
        assert!(!id.permits(b"Alice", b"example.com"));
        assert!(!id.permits(b"alice", b"evil.com"));
        let any = Identity {
            domains: vec![],
            ..id
        };
        assert!(any.permits(b"alice", b"anything.test"));
    }

    #[test]
    fn expiry() {
        let id = Identity {
            user: "a".into(),
            domains: vec![],
            expires_at: Some(Timestamp(10)),
        };
        assert!(!id.expired(Timestamp(9)));
        assert!(id.expired(Timestamp(10)));
    }
}
