//! The SIP OPTIONS probe (RFC 3261 §11) as bytes: the request sent to a target, and the reading of its answer
//! (the status of the response that carries the probe's Call-ID; anything else is not the answer).

use std::fmt::Write as _;

use super::Transport;

/// One probe's identifiers (random per probe, so that a late answer to an earlier one is not taken for this one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeIds {
    /// The Via branch (after the RFC 3261 magic cookie).
    pub branch: u64,
    /// The From tag.
    pub tag: u64,
    /// The Call-ID's local part.
    pub call_id: u64,
}

impl ProbeIds {
    /// Fresh identifiers from the OS random source (a fixed fallback keeps probing if it ever fails: the ids
    /// only need to differ between the probes of one socket, which the time then gives).
    pub fn random() -> Self {
        let mut b = [0u8; 24];
        if getrandom::fill(&mut b).is_err() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            b[..8].copy_from_slice(&now.to_le_bytes());
        }
        let word =
            |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or_default());
        Self {
            branch: word(0),
            tag: word(1),
            call_id: word(2),
        }
    }

    fn call_id(&self) -> String {
        format!("probe-{:016x}@sipedge", self.call_id)
    }
}

/// The OPTIONS request for the target at `target` (`host[:port]`, an IPv6 host in brackets), sent from `local`
/// (`host:port` as written in the Via; `rport` asks a UDP core to answer to the address it came from).
pub fn options(target: &str, local: &str, transport: Transport, ids: &ProbeIds) -> Vec<u8> {
    let mut m = String::with_capacity(320);
    let proto = match transport {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
        Transport::Tls => "TLS",
    };
    let scheme = if transport == Transport::Tls {
        "sips"
    } else {
        "sip"
    };
    let _ = write!(
        m,
        "OPTIONS {scheme}:{target} SIP/2.0\r\n\
         Via: SIP/2.0/{proto} {local};branch=z9hG4bK-probe-{:016x};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <{scheme}:sipedge@{local}>;tag={:016x}\r\n\
         To: <{scheme}:{target}>\r\n\
         Call-ID: {}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Accept: application/sdp\r\n\
         User-Agent: sipedge\r\n\
         Content-Length: 0\r\n\r\n",
        ids.branch,
        ids.tag,
        ids.call_id(),
    );
    m.into_bytes()
}

/// The status of `bytes` if it is a whole response to the probe `ids`; `None` for anything else (another
/// message, a request, a malformed one).
pub fn answer(bytes: &[u8], ids: &ProbeIds) -> Option<u16> {
    let msg = sipscan::Message::parse(bytes).ok()?;
    let status = msg.status()?;
    let call_id = msg.call_id()?;
    (call_id == ids.call_id().as_bytes()).then_some(status)
}

/// The length of the first whole message at the start of a stream's bytes (headers, then Content-Length bytes of
/// body), or `None` while more are needed. `Err` when the head grows past `max` without ending.
pub fn message_len(stream: &[u8], max: usize) -> Result<Option<usize>, ()> {
    let Some(end) = stream.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if stream.len() > max {
            Err(())
        } else {
            Ok(None)
        };
    };
    let head = &stream[..end + 4];
    let body = std::str::from_utf8(head)
        .ok()
        .and_then(|h| {
            h.split("\r\n").find_map(|line| {
                let (name, value) = line.split_once(':')?;
                let name = name.trim();
                (name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l"))
                    .then(|| value.trim().parse::<usize>().ok())?
            })
        })
        .unwrap_or(0);
    let total = head.len().saturating_add(body);
    if total > max {
        return Err(());
    }
    Ok((stream.len() >= total).then_some(total))
}

#[cfg(test)]
mod tests {
    use super::{ProbeIds, Transport, answer, message_len, options};

    fn ids() -> ProbeIds {
        ProbeIds {
            branch: 1,
            tag: 2,
            call_id: 3,
        }
    }

    #[test]
    fn the_probe_is_a_well_formed_options_request() {
        let req = options("[::1]:5060", "[::1]:5070", Transport::Udp, &ids());
        let msg = sipscan::Message::parse(&req).expect("parses");
        assert_eq!(msg.method(), Some(sipscan::Method::Options));
        let via = msg.top_via().expect("via").expect("valid");
        assert_eq!(via.branch(), Some(&b"z9hG4bK-probe-0000000000000001"[..]));
        assert!(req.starts_with(b"OPTIONS sip:[::1]:5060 SIP/2.0\r\n"));
        let tls = options("core.test", "10.0.0.1:5061", Transport::Tls, &ids());
        assert!(tls.starts_with(b"OPTIONS sips:core.test SIP/2.0\r\n"));
    }

    #[test]
    fn only_a_response_with_the_probes_call_id_answers_it() {
        let ok = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK-probe-0000000000000001\r\n\
                   From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\n\
                   Call-ID: probe-0000000000000003@sipedge\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(answer(ok, &ids()), Some(200));
        let other = ProbeIds {
            call_id: 4,
            ..ids()
        };
        assert_eq!(answer(ok, &other), None, "an earlier probe's late answer");
        let req = options("h", "h", Transport::Udp, &ids());
        assert_eq!(answer(&req, &ids()), None, "a request is no answer");
        assert_eq!(answer(b"garbage\r\n\r\n", &ids()), None);
    }

    #[test]
    fn a_streams_message_ends_after_its_content_length() {
        let m = b"SIP/2.0 200 OK\r\nContent-Length: 3\r\n\r\nabcSIP/2.0";
        assert_eq!(message_len(&m[..20], 1000), Ok(None));
        assert_eq!(message_len(&m[..39], 1000), Ok(None), "one body byte short");
        assert_eq!(message_len(m, 1000), Ok(Some(40)));
        assert_eq!(message_len(&[b'x'; 2000], 1000), Err(()), "no end of head");
        let huge = b"SIP/2.0 200 OK\r\nl: 99999999\r\n\r\n";
        assert_eq!(message_len(huge, 1000), Err(()), "a body past the limit");
    }
}
