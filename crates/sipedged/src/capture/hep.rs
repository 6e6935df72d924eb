//! A sans-io HEP v3 (EEP) encoder: one captured SIP message, with its addresses, transport and time, as one
//! datagram for a Homer-style collector.
//!
//! The layout (HEP3 network protocol specification): the ASCII id `HEP3`, the total length (16 bits, header
//! included), then chunks. Every chunk is a vendor id (16 bits, `0x0000` for the generic chunks used here), a type
//! id (16 bits), a length (16 bits, the chunk's 6-byte header included) and its value; all numbers in network
//! byte order. The generic chunk types written:
//!
//! | type | value | meaning |
//! | --- | --- | --- |
//! | 1 | u8 | IP protocol family: 2 (`AF_INET`) or 10 (`AF_INET6`) |
//! | 2 | u8 | IP protocol id: 6 (TCP: WS, WSS, TCP, TLS) or 17 (UDP) |
//! | 3, 4 | 4 bytes | IPv4 source, destination address |
//! | 5, 6 | 16 bytes | IPv6 source, destination address |
//! | 7, 8 | u16 | source, destination port |
//! | 9, 10 | u32 | timestamp: seconds since the epoch, microseconds offset |
//! | 11 | u8 | protocol type: 1 (SIP) |
//! | 12 | u32 | capture agent id |
//! | 14 | bytes | authentication key (the collector's password), when configured |
//! | 15 | bytes | the captured payload: the SIP message |

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// HEP protocol family of IPv4 (`AF_INET`).
pub const FAMILY_IPV4: u8 = 2;
/// HEP protocol family of IPv6 (`AF_INET6`, as on Linux).
pub const FAMILY_IPV6: u8 = 10;
/// HEP protocol type of SIP.
pub const PROTO_SIP: u8 = 1;
/// The largest HEP packet: its length field has 16 bits.
pub const MAX_PACKET: usize = u16::MAX as usize;

/// Generic chunk types (vendor `0x0000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum ChunkType {
    /// IP protocol family.
    Family = 1,
    /// IP protocol id.
    Protocol = 2,
    /// IPv4 source address.
    Ipv4Src = 3,
    /// IPv4 destination address.
    Ipv4Dst = 4,
    /// IPv6 source address.
    Ipv6Src = 5,
    /// IPv6 destination address.
    Ipv6Dst = 6,
    /// Source port.
    SrcPort = 7,
    /// Destination port.
    DstPort = 8,
    /// Timestamp, seconds.
    Seconds = 9,
    /// Timestamp, microseconds offset.
    Micros = 10,
    /// Protocol type (1: SIP).
    ProtoType = 11,
    /// Capture agent id.
    AgentId = 12,
    /// Authentication key.
    AuthKey = 14,
    /// Captured payload.
    Payload = 15,
}

/// The transport a captured message crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Plain WebSocket (a browser on ws://).
    Ws,
    /// WebSocket over TLS (wss://).
    Wss,
    /// UDP toward the core.
    Udp,
    /// TCP toward the core.
    Tcp,
    /// TLS toward the core.
    Tls,
}

impl Transport {
    /// The IP protocol id HEP carries: 17 for UDP, 6 for everything over TCP.
    pub fn ip_protocol(self) -> u8 {
        match self {
            Self::Udp => 17,
            Self::Ws | Self::Wss | Self::Tcp | Self::Tls => 6,
        }
    }
}

/// One captured message, ready to encode.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// Who sent it.
    pub src: SocketAddr,
    /// Who it went to.
    pub dst: SocketAddr,
    /// The transport it crossed.
    pub transport: Transport,
    /// When it crossed the edge.
    pub time: SystemTime,
    /// The capture agent id (`[capture] agent_id`).
    pub agent_id: u32,
    /// The collector's password (`[capture] password`), sent as the authentication key chunk.
    pub auth_key: Option<&'a [u8]>,
    /// The SIP message.
    pub payload: &'a [u8],
}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HepError {
    /// The packet would pass the 16-bit length field.
    #[error("a HEP packet of {0} bytes passes the 65535 a HEP length can say")]
    TooLong(usize),
}

/// Encode `p` as one HEP v3 packet, appended to `out` (cleared first).
pub fn encode(p: &Packet<'_>, out: &mut Vec<u8>) -> Result<(), HepError> {
    out.clear();
    out.extend_from_slice(b"HEP3");
    out.extend_from_slice(&[0, 0]);
    let (src, dst) = same_family(p.src.ip(), p.dst.ip());
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            chunk(out, ChunkType::Family, &[FAMILY_IPV4]);
            chunk(out, ChunkType::Protocol, &[p.transport.ip_protocol()]);
            chunk(out, ChunkType::Ipv4Src, &s.octets());
            chunk(out, ChunkType::Ipv4Dst, &d.octets());
        }
        (s, d) => {
            chunk(out, ChunkType::Family, &[FAMILY_IPV6]);
            chunk(out, ChunkType::Protocol, &[p.transport.ip_protocol()]);
            chunk(out, ChunkType::Ipv6Src, &v6(s).octets());
            chunk(out, ChunkType::Ipv6Dst, &v6(d).octets());
        }
    }
    chunk(out, ChunkType::SrcPort, &p.src.port().to_be_bytes());
    chunk(out, ChunkType::DstPort, &p.dst.port().to_be_bytes());
    let since = p.time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let seconds = u32::try_from(since.as_secs()).unwrap_or(u32::MAX);
    chunk(out, ChunkType::Seconds, &seconds.to_be_bytes());
    chunk(out, ChunkType::Micros, &since.subsec_micros().to_be_bytes());
    chunk(out, ChunkType::ProtoType, &[PROTO_SIP]);
    chunk(out, ChunkType::AgentId, &p.agent_id.to_be_bytes());
    let tail = p.auth_key.map_or(0, |k| 6 + k.len()) + 6 + p.payload.len();
    if out.len() + tail > MAX_PACKET {
        let total = out.len() + tail;
        out.clear();
        return Err(HepError::TooLong(total));
    }
    if let Some(key) = p.auth_key {
        chunk(out, ChunkType::AuthKey, key);
    }
    chunk(out, ChunkType::Payload, p.payload);
    let total = out.len() as u16;
    out[4..6].copy_from_slice(&total.to_be_bytes());
    Ok(())
}

/// Append one generic chunk (the caller keeps the whole packet under [`MAX_PACKET`]).
fn chunk(out: &mut Vec<u8>, kind: ChunkType, value: &[u8]) {
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&(kind as u16).to_be_bytes());
    out.extend_from_slice(&((6 + value.len()) as u16).to_be_bytes());
    out.extend_from_slice(value);
}

/// Both addresses in one family, as HEP carries one: IPv4-mapped IPv6 addresses (a `[::]` listener's view of an
/// IPv4 client) are written as IPv4, and so is `::` beside an IPv4 address; IPv4 beside any other IPv6 address
/// becomes mapped IPv6.
fn same_family(a: IpAddr, b: IpAddr) -> (IpAddr, IpAddr) {
    let (a, b) = (a.to_canonical(), b.to_canonical());
    let any4 = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
    match (a, b) {
        (IpAddr::V4(_), IpAddr::V6(v)) if v.is_unspecified() => (a, any4),
        (IpAddr::V6(v), IpAddr::V4(_)) if v.is_unspecified() => (any4, b),
        (IpAddr::V4(_), IpAddr::V6(_)) | (IpAddr::V6(_), IpAddr::V4(_)) => {
            (IpAddr::V6(v6(a)), IpAddr::V6(v6(b)))
        }
        _ => (a, b),
    }
}

fn v6(ip: IpAddr) -> std::net::Ipv6Addr {
    match ip {
        IpAddr::V4(v) => v.to_ipv6_mapped(),
        IpAddr::V6(v) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, micros: u32) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros.into())
    }

    #[test]
    fn an_ipv4_udp_message_is_laid_out_chunk_by_chunk() {
        let p = Packet {
            src: "192.0.2.1:5070".parse().unwrap(),
            dst: "198.51.100.7:5060".parse().unwrap(),
            transport: Transport::Udp,
            time: at(0x6000_0001, 0x0001_e240),
            agent_id: 0x0102_0304,
            auth_key: None,
            payload: b"OPTIONS",
        };
        let mut out = Vec::new();
        encode(&p, &mut out).unwrap();
        #[rustfmt::skip]
        let want: Vec<u8> = [
            &b"HEP3"[..], &[0x00, 0x6a],
            &[0, 0, 0, 1, 0, 7, 2],                      // family AF_INET
            &[0, 0, 0, 2, 0, 7, 17],                     // protocol UDP
            &[0, 0, 0, 3, 0, 10, 192, 0, 2, 1],          // IPv4 source
            &[0, 0, 0, 4, 0, 10, 198, 51, 100, 7],       // IPv4 destination
            &[0, 0, 0, 7, 0, 8, 0x13, 0xce],             // source port 5070
            &[0, 0, 0, 8, 0, 8, 0x13, 0xc4],             // destination port 5060
            &[0, 0, 0, 9, 0, 10, 0x60, 0, 0, 1],         // seconds
            &[0, 0, 0, 10, 0, 10, 0, 0x01, 0xe2, 0x40],  // microseconds
            &[0, 0, 0, 11, 0, 7, 1],                     // SIP
            &[0, 0, 0, 12, 0, 10, 1, 2, 3, 4],           // capture agent id
            &[0, 0, 0, 15, 0, 13], b"OPTIONS",           // payload
        ]
        .concat();
        assert_eq!(out, want);
        assert_eq!(out.len(), 0x6a);
    }

    #[test]
    fn an_ipv6_websocket_message_carries_tcp_and_the_auth_key() {
        let p = Packet {
            src: "[2001:db8::1]:40000".parse().unwrap(),
            dst: "[::1]:8080".parse().unwrap(),
            transport: Transport::Wss,
            time: at(1, 2),
            agent_id: 7,
            auth_key: Some(b"pw"),
            payload: b"X",
        };
        let mut out = Vec::new();
        encode(&p, &mut out).unwrap();
        let mut src = [0u8; 16];
        src[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        src[15] = 1;
        let mut dst = [0u8; 16];
        dst[15] = 1;
        #[rustfmt::skip]
        let want: Vec<u8> = [
            &b"HEP3"[..], &[0x00, 0x84],
            &[0, 0, 0, 1, 0, 7, 10],                     // family AF_INET6
            &[0, 0, 0, 2, 0, 7, 6],                      // protocol TCP
            &[0, 0, 0, 5, 0, 22], &src,                  // IPv6 source
            &[0, 0, 0, 6, 0, 22], &dst,                  // IPv6 destination
            &[0, 0, 0, 7, 0, 8, 0x9c, 0x40],             // source port 40000
            &[0, 0, 0, 8, 0, 8, 0x1f, 0x90],             // destination port 8080
            &[0, 0, 0, 9, 0, 10, 0, 0, 0, 1],
            &[0, 0, 0, 10, 0, 10, 0, 0, 0, 2],
            &[0, 0, 0, 11, 0, 7, 1],
            &[0, 0, 0, 12, 0, 10, 0, 0, 0, 7],
            &[0, 0, 0, 14, 0, 8], b"pw",                 // authentication key
            &[0, 0, 0, 15, 0, 7], b"X",
        ]
        .concat();
        assert_eq!(out, want);
        assert_eq!(out.len(), 0x84);
    }

    #[test]
    fn a_mapped_client_behind_an_any_listener_is_written_as_ipv4() {
        let (s, d) = same_family("::ffff:192.0.2.9".parse().unwrap(), "::".parse().unwrap());
        assert_eq!(
            (s, d),
            ("192.0.2.9".parse().unwrap(), "0.0.0.0".parse().unwrap())
        );
        let (s, d) = same_family(
            "::ffff:192.0.2.9".parse().unwrap(),
            "::ffff:127.0.0.1".parse().unwrap(),
        );
        assert_eq!(
            (s, d),
            ("192.0.2.9".parse().unwrap(), "127.0.0.1".parse().unwrap())
        );
        let (s, d) = same_family("2001:db8::1".parse().unwrap(), "::".parse().unwrap());
        assert_eq!(
            (s, d),
            ("2001:db8::1".parse().unwrap(), "::".parse().unwrap())
        );
        let (s, d) = same_family("192.0.2.9".parse().unwrap(), "::".parse().unwrap());
        assert_eq!(
            (s, d),
            ("192.0.2.9".parse().unwrap(), "0.0.0.0".parse().unwrap())
        );
        let (s, d) = same_family("192.0.2.9".parse().unwrap(), "2001:db8::2".parse().unwrap());
        assert_eq!(s, "::ffff:192.0.2.9".parse::<IpAddr>().unwrap());
        assert!(d.is_ipv6());
    }

    #[test]
    fn a_message_past_the_length_field_is_refused() {
        let payload = vec![b'x'; MAX_PACKET];
        let p = Packet {
            src: "192.0.2.1:1".parse().unwrap(),
            dst: "192.0.2.2:2".parse().unwrap(),
            transport: Transport::Tcp,
            time: at(0, 0),
            agent_id: 0,
            auth_key: None,
            payload: &payload,
        };
        let mut out = Vec::new();
        assert!(matches!(encode(&p, &mut out), Err(HepError::TooLong(n)) if n > MAX_PACKET));
        assert!(out.is_empty());
    }
}
