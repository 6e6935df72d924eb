//! ws:// and wss:// listeners side by side in one sipedged, on both I/O backends: each serves its own path, a
//! browser on one reaches a browser on the other, and what the wss:// browser receives names the wss://
//! listener in our `WSS` Via while the ws:// one sees the ws:// listener.

mod common;

use std::net::TcpStream;

use common::*;

const BACKENDS: [&str; 2] = ["uring", "epoll"];

fn wss_ua(
    user: &str,
    port: u16,
    path: &str,
    der: &rustls::pki_types::CertificateDer<'static>,
) -> Ua {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let ws = WsSip::over(Box::new(tls_over(tcp, der)), &["sip"], path, "")
        .unwrap_or_else(|e| panic!("wss handshake on {path}: {e}"));
    Ua::on(user, ws)
}

#[test]
fn ws_and_wss_listeners_side_by_side() {
    let dir = TempDir::new("listeners");
    let (tls_line, der) = edge_test_tls(&dir);
    for io in BACKENDS {
        let wss_port = free_tcp_port();
        let gw = Gateway::start_with(
            "",
            &format!(
                "[[listen]]\naddress = \"127.0.0.1:{wss_port}\"\npath = \"/secure\"\n{tls_line}"
            ),
            &[("RINGMUX_IO", io)],
        );

        // Each listener serves its own path only.
        let refused = WsSip::connect_full(gw.port, &["sip"], "/secure", "", None).err();
        assert!(
            refused.as_deref().is_some_and(|s| s.contains("404")),
            "{io}: {refused:?}"
        );
        let tcp = TcpStream::connect(("127.0.0.1", wss_port)).unwrap();
        let refused = WsSip::over(Box::new(tls_over(tcp, &der)), &["sip"], "/", "").err();
        assert!(
            refused.as_deref().is_some_and(|s| s.contains("404")),
            "{io}: {refused:?}"
        );

        let mut alice = Ua::new("alice", gw.port);
        assert_eq!(status(&alice.register(600)), 200, "{io}");
        let mut bob = wss_ua("bob", wss_port, "/secure", &der);
        assert_eq!(status(&bob.register(600)), 200, "{io}");

        // ws -> wss: bob's copy carries our WSS Via naming the wss:// listener.
        let got = text(&message_between(
            &mut alice,
            &mut bob,
            &format!("to-wss-{io}"),
        ));
        let wss_hop = format!("127.0.0.1:{wss_port}");
        assert!(
            got.contains(&format!("Via: SIP/2.0/WSS {wss_hop};")),
            "{io}: {got}"
        );

        // wss -> ws: alice's copy names the ws:// listener.
        let got = text(&message_between(
            &mut bob,
            &mut alice,
            &format!("to-ws-{io}"),
        ));
        let ws_hop = format!("127.0.0.1:{}", gw.port);
        assert!(
            got.contains(&format!("Via: SIP/2.0/WS {ws_hop};")),
            "{io}: {got}"
        );
        assert!(
            !got.contains(&wss_hop),
            "{io}: the wss:// listener is not named to a ws:// browser: {got}"
        );
        drop(gw);
    }
}
