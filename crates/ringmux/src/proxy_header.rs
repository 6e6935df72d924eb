//! PROXY protocol version 2 headers (HAProxy's "proxy-protocol.txt", section 2.2), sans-io.
//!
//! A load balancer that terminates nothing but TCP opens its connection to us with a binary header naming the
//! client it relays: a 12-byte signature, a version/command byte, a family/protocol byte, a 16-bit length, then
//! the addresses and optional TLVs. [`ProxyHeaderParser`] takes the connection's first bytes in whatever pieces
//! they arrive, says how many of each piece belong to the header (the rest is the next layer's: a TLS
//! ClientHello or an HTTP request), and rejects anything else at the first byte that cannot be a header.
//!
//! Supported: the `LOCAL` command (the connection is the proxy's own: keep the socket's addresses) and the
//! `PROXY` command over TCP on IPv4 and IPv6 (`UNSPEC` family: addresses unknown, keep the socket's). TLVs are
//! skipped. UNIX sockets and datagrams are refused.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// The 12 bytes every version 2 header starts with.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// Bytes before the address block: signature, version/command, family/protocol, length.
const FIXED: usize = 16;

/// The longest header accepted (fixed part, addresses and TLVs). 536 bytes hold IPv6 addresses and every TLV a
/// load balancer sends in practice.
pub const MAX_HEADER: usize = 536;

/// Address block of TCP over IPv4: source and destination address, source and destination port.
const INET_BLOCK: usize = 12;
/// Address block of TCP over IPv6.
const INET6_BLOCK: usize = 36;

/// What a complete header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyHeader {
    /// `LOCAL`: the proxy speaks for itself (a health check); the socket's addresses stand.
    Local,
    /// `PROXY` with the `UNSPEC` family: a relayed connection whose addresses the proxy does not know; the
    /// socket's addresses stand.
    Unknown,
    /// `PROXY` over TCP: the client's address and the address it connected to.
    Proxied {
        /// The client (the connection's real source).
        source: SocketAddr,
        /// Where the client connected (the proxy's listener).
        destination: SocketAddr,
    },
}

impl ProxyHeader {
    /// The client address the header names, if it names one.
    pub fn source(&self) -> Option<SocketAddr> {
        match self {
            Self::Proxied { source, .. } => Some(*source),
            Self::Local | Self::Unknown => None,
        }
    }
}

/// Why bytes are not an acceptable PROXY protocol v2 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyHeaderError {
    /// The text form of version 1 (`PROXY TCP4 ...`), which is not accepted.
    #[error("PROXY protocol version 1 (text) header; only version 2 is accepted")]
    Version1,
    /// The first bytes are not the version 2 signature (no header at all, or garbage).
    #[error("no PROXY protocol v2 signature (byte {at} is {found:#04x})")]
    Signature {
        /// Offset of the first wrong byte.
        at: usize,
        /// The byte found there.
        found: u8,
    },
    /// The version nibble is not 2.
    #[error("PROXY protocol version {0} is not supported (expected 2)")]
    Version(u8),
    /// The command nibble is neither LOCAL (0) nor PROXY (1).
    #[error("unknown PROXY protocol command {0:#x}")]
    Command(u8),
    /// A PROXY command for an address family or transport other than TCP over IPv4 / IPv6.
    #[error("unsupported PROXY protocol address family {family:#x} / protocol {protocol:#x}")]
    Unsupported {
        /// The family nibble (1 IPv4, 2 IPv6, 3 UNIX).
        family: u8,
        /// The protocol nibble (1 stream, 2 datagram).
        protocol: u8,
    },
    /// The header would be longer than [`MAX_HEADER`].
    #[error("PROXY protocol header of {total} bytes exceeds the {max}-byte cap")]
    TooLong {
        /// Its total length (fixed part included).
        total: usize,
        /// The cap.
        max: usize,
    },
    /// The length field leaves no room for the family's addresses.
    #[error(
        "PROXY protocol address block of {len} bytes is shorter than the {need} bytes its family needs"
    )]
    Short {
        /// The length field.
        len: usize,
        /// What the family needs.
        need: usize,
    },
}

impl ProxyHeaderError {
    /// A short fixed label for counters.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Version1 => "version_1",
            Self::Signature { .. } => "signature",
            Self::Version(_) => "version",
            Self::Command(_) => "command",
            Self::Unsupported { .. } => "unsupported_family",
            Self::TooLong { .. } => "too_long",
            Self::Short { .. } => "short_addresses",
        }
    }
}

/// Where the parser is after a [`feed`](ProxyHeaderParser::feed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Every byte given so far belongs to the header, which needs more.
    Incomplete,
    /// The header is complete: it ends `consumed` bytes into the last piece fed; the bytes after that belong to
    /// the next layer.
    Done {
        /// What the header says.
        header: ProxyHeader,
        /// Bytes of the last piece that were header.
        consumed: usize,
    },
}

/// Reads one header from a connection's first bytes, in pieces of any size. After `Done` or an error it is
/// spent: feeding more returns the same error again, or [`ProxyHeaderError::Signature`] after `Done`.
#[derive(Debug, Default)]
pub struct ProxyHeaderParser {
    /// The header's bytes so far (never more than the header: at most [`MAX_HEADER`]).
    seen: Vec<u8>,
    /// Total header length once the fixed part is in.
    total: Option<usize>,
    failed: Option<ProxyHeaderError>,
    done: bool,
}

impl ProxyHeaderParser {
    /// A parser waiting for the first byte.
    pub fn new() -> Self {
        Self::default()
    }

    /// Header bytes taken so far.
    pub fn buffered(&self) -> usize {
        self.seen.len()
    }

    /// Takes the next piece of the connection's bytes.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Progress, ProxyHeaderError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.done {
            return Err(ProxyHeaderError::Signature {
                at: MAX_HEADER,
                found: bytes.first().copied().unwrap_or(0),
            });
        }
        let r = self.advance(bytes);
        match r {
            Err(e) => self.failed = Some(e),
            Ok(Progress::Done { .. }) => {
                self.done = true;
                self.seen = Vec::new();
            }
            Ok(Progress::Incomplete) => {}
        }
        r
    }

    fn advance(&mut self, bytes: &[u8]) -> Result<Progress, ProxyHeaderError> {
        let mut used = 0;
        // The fixed part, checked byte by byte so that a connection without a header fails at its first byte.
        while self.seen.len() < FIXED {
            let Some(&b) = bytes.get(used) else {
                return Ok(Progress::Incomplete);
            };
            let at = self.seen.len();
            if let Some(&want) = SIGNATURE.get(at)
                && b != want
            {
                return Err(self.signature_error(at, b));
            }
            self.seen.push(b);
            used += 1;
        }
        let total = match self.total {
            Some(t) => t,
            None => {
                let t = check_fixed(&self.seen)?;
                self.total = Some(t);
                t
            }
        };
        let want = total - self.seen.len();
        let rest = bytes.get(used..).unwrap_or_default();
        let take = want.min(rest.len());
        self.seen
            .extend_from_slice(rest.get(..take).unwrap_or_default());
        used += take;
        if self.seen.len() < total {
            return Ok(Progress::Incomplete);
        }
        let header = addresses(&self.seen)?;
        Ok(Progress::Done {
            header,
            consumed: used,
        })
    }

    /// The error for byte `found` at offset `at` of the signature: version 1's text if that is what starts here.
    fn signature_error(&self, at: usize, found: u8) -> ProxyHeaderError {
        let v1 = b"PROXY ";
        let so_far = self.seen.iter().copied().chain(std::iter::once(found));
        if at < v1.len() && so_far.zip(v1.iter()).all(|(a, &b)| a == b) {
            // Could still be version 1 text; refuse it now rather than wait for more.
            return ProxyHeaderError::Version1;
        }
        ProxyHeaderError::Signature { at, found }
    }
}

/// Checks version, command, family and length of the fixed part; returns the header's total length.
fn check_fixed(fixed: &[u8]) -> Result<usize, ProxyHeaderError> {
    let ver_cmd = fixed.get(12).copied().unwrap_or(0);
    let fam = fixed.get(13).copied().unwrap_or(0);
    let len = usize::from(u16::from_be_bytes([
        fixed.get(14).copied().unwrap_or(0),
        fixed.get(15).copied().unwrap_or(0),
    ]));
    let version = ver_cmd >> 4;
    if version != 2 {
        return Err(ProxyHeaderError::Version(version));
    }
    let command = ver_cmd & 0x0f;
    let total = FIXED + len;
    if total > MAX_HEADER {
        return Err(ProxyHeaderError::TooLong {
            total,
            max: MAX_HEADER,
        });
    }
    let (family, protocol) = (fam >> 4, fam & 0x0f);
    let need = match (command, family, protocol) {
        (0, _, _) => 0,
        (1, 0, _) => 0,
        (1, 1, 1) => INET_BLOCK,
        (1, 2, 1) => INET6_BLOCK,
        (1, family, protocol) => return Err(ProxyHeaderError::Unsupported { family, protocol }),
        (c, _, _) => return Err(ProxyHeaderError::Command(c)),
    };
    if len < need {
        return Err(ProxyHeaderError::Short { len, need });
    }
    Ok(total)
}

/// What a complete, checked header names.
fn addresses(header: &[u8]) -> Result<ProxyHeader, ProxyHeaderError> {
    let command = header.get(12).copied().unwrap_or(0) & 0x0f;
    let family = header.get(13).copied().unwrap_or(0) >> 4;
    let block = header.get(FIXED..).unwrap_or_default();
    let short = |need| ProxyHeaderError::Short {
        len: block.len(),
        need,
    };
    let port = |at: usize| -> Option<u16> {
        Some(u16::from_be_bytes([*block.get(at)?, *block.get(at + 1)?]))
    };
    match (command, family) {
        (0, _) => Ok(ProxyHeader::Local),
        (_, 0) => Ok(ProxyHeader::Unknown),
        (_, 1) => {
            let ip = |at: usize| -> Option<Ipv4Addr> {
                let b: [u8; 4] = block.get(at..at + 4)?.try_into().ok()?;
                Some(Ipv4Addr::from(b))
            };
            let (src, dst, sp, dp) = (ip(0), ip(4), port(8), port(10));
            match (src, dst, sp, dp) {
                (Some(s), Some(d), Some(sp), Some(dp)) => Ok(ProxyHeader::Proxied {
                    source: SocketAddr::from((s, sp)),
                    destination: SocketAddr::from((d, dp)),
                }),
                _ => Err(short(INET_BLOCK)),
            }
        }
        _ => {
            let ip = |at: usize| -> Option<Ipv6Addr> {
                let b: [u8; 16] = block.get(at..at + 16)?.try_into().ok()?;
                Some(Ipv6Addr::from(b))
            };
            let (src, dst, sp, dp) = (ip(0), ip(16), port(32), port(34));
            match (src, dst, sp, dp) {
                (Some(s), Some(d), Some(sp), Some(dp)) => Ok(ProxyHeader::Proxied {
                    source: SocketAddr::from((s, sp)),
                    destination: SocketAddr::from((d, dp)),
                }),
                _ => Err(short(INET6_BLOCK)),
            }
        }
    }
}

/// Writes a version 2 header: `PROXY` over TCP for `Some((source, destination))` (both of one family), `LOCAL`
/// for `None`; `tlvs` are appended as they are (already TLV-encoded). For tests and clients that speak to a
/// listener expecting headers.
pub fn encode(addrs: Option<(SocketAddr, SocketAddr)>, tlvs: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&SIGNATURE);
    let mut block = Vec::with_capacity(INET6_BLOCK + tlvs.len());
    let (ver_cmd, fam) = match addrs {
        None => (0x20, 0x00),
        Some((SocketAddr::V4(s), SocketAddr::V4(d))) => {
            block.extend_from_slice(&s.ip().octets());
            block.extend_from_slice(&d.ip().octets());
            block.extend_from_slice(&s.port().to_be_bytes());
            block.extend_from_slice(&d.port().to_be_bytes());
            (0x21, 0x11)
        }
        Some((s, d)) => {
            let v6 = |a: SocketAddr| match a {
                SocketAddr::V4(v4) => v4.ip().to_ipv6_mapped(),
                SocketAddr::V6(v6) => *v6.ip(),
            };
            block.extend_from_slice(&v6(s).octets());
            block.extend_from_slice(&v6(d).octets());
            block.extend_from_slice(&s.port().to_be_bytes());
            block.extend_from_slice(&d.port().to_be_bytes());
            (0x21, 0x21)
        }
    };
    block.extend_from_slice(tlvs);
    out.push(ver_cmd);
    out.push(fam);
    let len = u16::try_from(block.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&block);
}

#[cfg(test)]
mod tests;
