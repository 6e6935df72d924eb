//! The SIP messages a load client sends, written the way JsSIP writes them (see the traces in
//! shared/data/traces): REGISTER with outbound `reg-id` / `+sip.instance`, MESSAGE, INVITE with a
//! WebRTC offer, in-dialog ACK / re-INVITE / BYE along the route set, and responses to what arrives.

use std::fmt::Write as _;
use std::sync::LazyLock;

use super::message::{Message, param};

/// A CRLFCRLF keepalive (RFC 5626 §4.4.1).
pub const KEEPALIVE: &str = "\r\n\r\n";

/// The WebRTC offer a call carries (Chrome's, from a JsSIP trace; 1.7 KB).
pub const OFFER: &str = include_str!("offer.sdp");
/// The callee's answer (from the same trace).
pub const ANSWER: &str = include_str!("answer.sdp");
/// The hold offer: the same session, a=sendonly, next version.
pub static HOLD_OFFER: LazyLock<String> = LazyLock::new(|| {
    OFFER
        .replacen(" 2 IN IP4 ", " 3 IN IP4 ", 1)
        .replace("a=sendrecv", "a=sendonly")
});
/// The answer to a hold offer: a=recvonly.
pub static HOLD_ANSWER: LazyLock<String> = LazyLock::new(|| {
    ANSWER
        .replacen(" 2 IN IP4 ", " 3 IN IP4 ", 1)
        .replace("a=sendrecv", "a=recvonly")
});

const ALLOW: &str =
    "Allow: INVITE,ACK,CANCEL,BYE,UPDATE,MESSAGE,OPTIONS,REFER,INFO,NOTIFY,SUBSCRIBE\r\n";
const USER_AGENT: &str = "User-Agent: sipload (JsSIP-like)\r\n";

/// `n` random lower-case letters and digits.
pub fn token(rng: &mut fastrand::Rng, n: usize) -> String {
    (0..n)
        .map(|_| {
            let i = rng.u8(0..36);
            if i < 10 {
                char::from(b'0' + i)
            } else {
                char::from(b'a' + i - 10)
            }
        })
        .collect()
}

/// A fresh RFC 3261 branch (magic cookie first, §8.1.1.7).
pub fn branch(rng: &mut fastrand::Rng) -> String {
    format!("z9hG4bK{}", token(rng, 12))
}

/// Who a UA is.
#[derive(Debug, Clone)]
pub struct Identity {
    /// User part of its AoR: `sl<index>`.
    pub user: String,
    /// The partner's user part (MESSAGE and INVITE go there).
    pub partner: String,
    /// SIP domain.
    pub domain: String,
    /// Via / Contact host: random, `.invalid` (RFC 7118 §5.2, as JsSIP).
    pub host: String,
    /// Contact user part (random, as JsSIP).
    pub contact_user: String,
    /// `+sip.instance` URN (RFC 5626 §4.1).
    pub instance: String,
}

impl Identity {
    /// UA `index` of `connections`, user `slINDEX`: its partner is `index ^ 1` (the first UA when that
    /// is past the end).
    pub fn new(index: u64, connections: u64, domain: &str, rng: &mut fastrand::Rng) -> Self {
        Self::with_prefix(index, connections, "sl", domain, rng)
    }

    /// As [`Self::new`], with users `PREFIXINDEX` (`--user-prefix`).
    pub fn with_prefix(
        index: u64,
        connections: u64,
        prefix: &str,
        domain: &str,
        rng: &mut fastrand::Rng,
    ) -> Self {
        let partner = if index ^ 1 < connections {
            index ^ 1
        } else {
            0
        };
        let hex = |rng: &mut fastrand::Rng, n: usize| -> String {
            (0..n)
                .map(|_| char::from_digit(u32::from(rng.u8(0..16)), 16).unwrap_or('0'))
                .collect()
        };
        let instance = format!(
            "{}-{}-4{}-a{}-{}",
            hex(rng, 8),
            hex(rng, 4),
            hex(rng, 3),
            hex(rng, 3),
            hex(rng, 12)
        );
        Self {
            user: format!("{prefix}{index}"),
            partner: format!("{prefix}{partner}"),
            domain: domain.to_owned(),
            host: format!("{}.invalid", token(rng, 12)),
            contact_user: token(rng, 8),
            instance,
        }
    }

    /// The Contact URI in angle brackets, with `;ob` (RFC 5626 §5.4) as JsSIP puts in dialogs.
    pub fn contact(&self) -> String {
        format!("<sip:{}@{};transport=ws;ob>", self.contact_user, self.host)
    }

    /// The partner's address of record.
    pub fn partner_aor(&self) -> String {
        format!("sip:{}@{}", self.partner, self.domain)
    }

    fn from(&self, tag: &str) -> String {
        format!(
            "From: \"{u}\" <sip:{u}@{d}>;tag={tag}\r\n",
            u = self.user,
            d = self.domain
        )
    }

    fn via(&self, branch: &str) -> String {
        format!("Via: SIP/2.0/WS {};branch={branch}\r\n", self.host)
    }
}

fn finish(mut s: String, content_type: &str, body: &str) -> String {
    if !body.is_empty() {
        let _ = write!(s, "Content-Type: {content_type}\r\n");
    }
    let _ = write!(s, "Content-Length: {}\r\n\r\n{body}", body.len());
    s
}

/// REGISTER for `expires` seconds (0 removes the binding).
pub fn register(
    id: &Identity,
    branch: &str,
    call_id: &str,
    tag: &str,
    cseq: u32,
    expires: u32,
) -> String {
    let s = format!(
        "REGISTER sip:{d} SIP/2.0\r\n{via}Max-Forwards: 69\r\nTo: <sip:{u}@{d}>\r\n{from}\
Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nExpires: {expires}\r\n\
Contact: <sip:{cu}@{h};transport=ws>;+sip.ice;reg-id=1;+sip.instance=\"<urn:uuid:{inst}>\";expires={expires}\r\n\
{ALLOW}Supported: path,gruu,outbound\r\n{USER_AGENT}",
        d = id.domain,
        u = id.user,
        via = id.via(branch),
        from = id.from(tag),
        cu = id.contact_user,
        h = id.host,
        inst = id.instance,
    );
    finish(s, "", "")
}

/// MESSAGE to the partner with a `size`-byte text body.
pub fn message(
    id: &Identity,
    branch: &str,
    call_id: &str,
    tag: &str,
    cseq: u32,
    size: usize,
) -> String {
    let body: String = "sipload says hello; ".chars().cycle().take(size).collect();
    let s = format!(
        "MESSAGE {aor} SIP/2.0\r\n{via}Max-Forwards: 69\r\nTo: <{aor}>\r\n{from}Call-ID: {call_id}\r\n\
CSeq: {cseq} MESSAGE\r\n{ALLOW}Supported: outbound\r\n{USER_AGENT}",
        aor = id.partner_aor(),
        via = id.via(branch),
        from = id.from(tag),
    );
    finish(s, "text/plain;charset=utf-8", &body)
}

/// INVITE to the partner with the WebRTC offer; also returns its Request-URI.
pub fn invite(
    id: &Identity,
    branch: &str,
    call_id: &str,
    tag: &str,
    cseq: u32,
) -> (String, String) {
    let aor = id.partner_aor();
    let s = format!(
        "INVITE {aor} SIP/2.0\r\n{via}Max-Forwards: 69\r\nTo: <{aor}>\r\n{from}Call-ID: {call_id}\r\n\
CSeq: {cseq} INVITE\r\nContact: {contact}\r\n{ALLOW}Supported: ice,replaces,outbound\r\n{USER_AGENT}",
        via = id.via(branch),
        from = id.from(tag),
        contact = id.contact(),
    );
    (finish(s, "application/sdp", OFFER), aor)
}

/// What an in-dialog request needs (RFC 3261 §12.2.1.1).
#[derive(Debug)]
pub struct DialogRef<'a> {
    /// Request-URI: the peer's Contact.
    pub remote_target: &'a str,
    /// Route set, in order.
    pub route: &'a [String],
    /// The To header value (with the peer's tag).
    pub to: &'a str,
    /// Our From tag.
    pub from_tag: &'a str,
    /// Call-ID.
    pub call_id: &'a str,
    /// CSeq number.
    pub cseq: u32,
    /// Via branch.
    pub branch: &'a str,
}

/// ACK, BYE or the hold re-INVITE (`hold`: an INVITE with the a=sendonly offer).
pub fn in_dialog(id: &Identity, method: &str, d: &DialogRef<'_>, hold: bool) -> String {
    let mut s = format!(
        "{method} {target} SIP/2.0\r\n{via}Max-Forwards: 69\r\n",
        target = d.remote_target,
        via = id.via(d.branch),
    );
    if !d.route.is_empty() {
        let _ = write!(s, "Route: {}\r\n", d.route.join(", "));
    }
    let _ = write!(
        s,
        "To: {to}\r\n{from}Call-ID: {cid}\r\nCSeq: {n} {method}\r\n",
        to = d.to,
        from = id.from(d.from_tag),
        cid = d.call_id,
        n = d.cseq,
    );
    if hold {
        let _ = write!(s, "Contact: {}\r\n{ALLOW}{USER_AGENT}", id.contact());
        finish(s, "application/sdp", &HOLD_OFFER)
    } else {
        s.push_str(USER_AGENT);
        finish(s, "", "")
    }
}

/// The ACK of a non-2xx final response: the INVITE's branch and Request-URI, the response's To.
pub fn ack_non_2xx(
    id: &Identity,
    ruri: &str,
    branch: &str,
    response: &Message<'_>,
    cseq: u32,
) -> String {
    let s = format!(
        "ACK {ruri} SIP/2.0\r\n{via}Max-Forwards: 69\r\nTo: {to}\r\nFrom: {from}\r\nCall-ID: {cid}\r\n\
CSeq: {cseq} ACK\r\n{USER_AGENT}",
        via = id.via(branch),
        to = response.header("to").unwrap_or_default(),
        from = response.header("from").unwrap_or_default(),
        cid = response.call_id(),
    );
    finish(s, "", "")
}

/// A To tag that is the same for every response to one request (FNV-1a of its Call-ID and From tag).
fn to_tag(req: &Message<'_>) -> String {
    let from_tag = req
        .header("from")
        .and_then(|f| param(f, "tag"))
        .unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in req.call_id().bytes().chain(from_tag.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:x}")
}

/// A response to `req` (RFC 3261 §8.2.6.2: Via, From, To (+ tag), Call-ID and CSeq copied;
/// Record-Route too in answers to INVITE, §12.1.1), then `extra` lines and an SDP `body`.
pub fn response(req: &Message<'_>, code: u16, reason: &str, extra: &str, body: &str) -> String {
    let mut s = format!("SIP/2.0 {code} {reason}\r\n");
    for via in req.headers("via") {
        let _ = write!(s, "Via: {via}\r\n");
    }
    let _ = write!(s, "From: {}\r\n", req.header("from").unwrap_or_default());
    let to = req.header("to").unwrap_or_default();
    if param(to, "tag").is_some() {
        let _ = write!(s, "To: {to}\r\n");
    } else {
        let _ = write!(s, "To: {to};tag={}\r\n", to_tag(req));
    }
    let _ = write!(s, "Call-ID: {}\r\n", req.call_id());
    let _ = write!(s, "CSeq: {}\r\n", req.header("cseq").unwrap_or_default());
    if req.cseq().is_ok_and(|(_, m)| m == "INVITE") {
        for rr in req.headers("record-route") {
            let _ = write!(s, "Record-Route: {rr}\r\n");
        }
    }
    s.push_str(extra);
    s.push_str("Supported: outbound\r\n");
    finish(s, "application/sdp", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdps_are_webrtc_sized_and_hold_changes_the_direction() {
        assert!(OFFER.len() > 1600 && OFFER.starts_with("v=0\r\n") && OFFER.ends_with("\r\n"));
        assert!(OFFER.contains("a=sendrecv") && !HOLD_OFFER.contains("a=sendrecv"));
        assert!(HOLD_OFFER.contains("a=sendonly") && HOLD_ANSWER.contains("a=recvonly"));
    }

    #[test]
    fn identities_pair_up_and_look_like_jssip() {
        let mut rng = fastrand::Rng::with_seed(7);
        let a = Identity::new(4, 5, "example.test", &mut rng);
        assert_eq!(
            (a.user.as_str(), a.partner.as_str()),
            ("sl4", "sl0"),
            "no sl5: the first UA"
        );
        let b = Identity::new(2, 5, "example.test", &mut rng);
        assert_eq!(b.partner, "sl3");
        let c = Identity::with_prefix(2, 5, "rg", "example.test", &mut rng);
        assert_eq!((c.user.as_str(), c.partner.as_str()), ("rg2", "rg3"));
        assert!(a.host.ends_with(".invalid") && a.host != b.host);
        assert_eq!(a.instance.len(), 36);
        let reg = register(&a, "z9hG4bKx", "c", "t", 1, 600);
        let m = Message::parse(reg.as_bytes()).unwrap();
        assert_eq!(m.cseq().unwrap(), (1, "REGISTER"));
        assert!(reg.ends_with("Content-Length: 0\r\n\r\n"));
    }

    #[test]
    fn responses_copy_the_request_and_tag_to_once() {
        let req = "INVITE sip:sl1@example.test SIP/2.0\r\nVia: SIP/2.0/WS p;branch=z9hG4bKp\r\n\
Via: SIP/2.0/WS a.invalid;branch=z9hG4bKa\r\nRecord-Route: <sip:p;lr>\r\nFrom: <sip:sl0@x>;tag=f\r\n\
To: <sip:sl1@example.test>\r\nCall-ID: c9\r\nCSeq: 5 INVITE\r\nContent-Length: 0\r\n\r\n";
        let m = Message::parse(req.as_bytes()).unwrap();
        let r180 = response(&m, 180, "Ringing", "", "");
        let r200 = response(&m, 200, "OK", "", ANSWER);
        let (a, b) = (
            Message::parse(r180.as_bytes()).unwrap(),
            Message::parse(r200.as_bytes()).unwrap(),
        );
        assert_eq!(a.headers("via").count(), 2);
        assert_eq!(a.top_branch(), Some("z9hG4bKp"));
        assert_eq!(a.header("to"), b.header("to"), "one To tag per request");
        assert_eq!(b.record_route(), vec!["<sip:p;lr>"]);
        assert_eq!(b.body, ANSWER.as_bytes());
        assert_eq!(
            b.header("content-length"),
            Some(ANSWER.len().to_string().as_str())
        );
    }
}
