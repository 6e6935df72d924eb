//! Messages whose target is not the edge's to choose (RFC 3261 §16.12, §18.2.2): a request inside a dialog goes
//! where its route set's first entry says (a core that record-routed it), and a response to a core's request goes
//! back to the core that sent it (its Via). Only a target's own address is followed: anything else goes to the
//! best live target, so no message steers the edge to an address of its choosing.

use std::net::{IpAddr, SocketAddr};

use sipscan::Message;
use sipscan::views::uri::Host;

use super::CoreView;

/// The target `bytes` (a message for the core) must go to, if it names one.
pub fn pinned(bytes: &[u8], view: &CoreView, default_port: u16) -> Option<SocketAddr> {
    let msg = Message::parse(bytes).ok()?;
    let (host, port) = if msg.status().is_some() {
        let via = msg.top_via()?.ok()?;
        let ip = via
            .received()
            .and_then(|r| std::str::from_utf8(r).ok()?.parse::<IpAddr>().ok())
            .or_else(|| ip_of(via.host))?;
        let rport = via
            .rport()
            .flatten()
            .and_then(|p| std::str::from_utf8(p).ok()?.parse::<u16>().ok());
        (ip, rport.or(via.port))
    } else {
        let route = msg.routes().next()?.ok()?;
        let uri = route.uri.sip()?;
        (ip_of(uri.host)?, uri.port)
    };
    let exact = SocketAddr::new(host, port.unwrap_or(default_port));
    if view.target(exact).is_some() {
        return Some(exact);
    }
    // The same core at another port of its address (a Via sent-by without the port it listens on).
    let same_ip: Vec<_> = view
        .targets
        .iter()
        .filter(|t| t.addr.ip().to_canonical() == host.to_canonical())
        .collect();
    match same_ip.as_slice() {
        [one] => Some(one.addr),
        _ => None,
    }
}

fn ip_of(host: Host<'_>) -> Option<IpAddr> {
    match host {
        Host::Ipv4(b) | Host::Ipv6(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Host::Name(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use super::pinned;
    use crate::targets::{CoreTarget, CoreView, Transport};

    fn view() -> CoreView {
        let t = |ip: [u8; 4], port| CoreTarget {
            addr: SocketAddr::from((ip, port)),
            priority: 10,
            weight: 1,
            up: true,
            name: None,
            stats: Arc::default(),
        };
        CoreView {
            transport: Transport::Udp,
            targets: vec![t([127, 0, 0, 21], 5060), t([127, 0, 0, 22], 5060)],
        }
    }

    fn request(route: &str) -> Vec<u8> {
        format!(
            "BYE sip:bob@192.0.2.9 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n{route}\
             From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn a_request_in_a_dialog_follows_its_route_set_to_the_core_that_record_routed_it() {
        let v = view();
        let r = request("Route: <sip:127.0.0.22;lr;ftag=1>\r\n");
        assert_eq!(
            pinned(&r, &v, 5060),
            Some("127.0.0.22:5060".parse().unwrap())
        );
        assert_eq!(
            pinned(&request(""), &v, 5060),
            None,
            "no route set: the edge chooses"
        );
    }

    #[test]
    fn a_route_to_an_address_that_is_no_target_does_not_steer_the_edge() {
        let v = view();
        for route in [
            "Route: <sip:192.0.2.66:5060;lr>\r\n",
            "Route: <sip:evil.example;lr>\r\n",
        ] {
            assert_eq!(pinned(&request(route), &v, 5060), None, "{route}");
        }
    }

    #[test]
    fn a_response_goes_back_to_the_core_in_its_via() {
        let v = view();
        let resp = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.21:5060;branch=z9hG4bK2\r\n\
                     From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\n\
                     Content-Length: 0\r\n\r\n";
        assert_eq!(
            pinned(resp, &v, 5060),
            Some("127.0.0.21:5060".parse().unwrap())
        );
        let received = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP core2.test;received=127.0.0.22;branch=z9hG4bK2\r\n\
                         From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\n\
                         Content-Length: 0\r\n\r\n";
        assert_eq!(
            pinned(received, &v, 5060),
            Some("127.0.0.22:5060".parse().unwrap())
        );
    }
}
