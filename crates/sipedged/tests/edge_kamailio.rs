//! (b) sipedge in edge mode in front of Kamailio (deploy/kamailio/core.cfg): registrations stored in Kamailio with
//! our Path, and the INVITE to the callee arriving from Kamailio along the flow token.
//!
//! Needs the `kamailio` program (Debian package kamailio): built only with the `interop` feature
//! (`cargo test -p sipedged --features interop`).
#![cfg(feature = "interop")]

mod common;

#[test]
fn register_message_call_and_big_message_through_kamailio() {
    let core = common::Kamailio::start_core();
    let local = common::free_udp_pair();
    let gw = common::Gateway::start(&format!(
        "[core]\nuri = \"sip:127.0.0.1:{};transport=udp\"\nlocal_address = \"127.0.0.1:{local}\"\n",
        core.port
    ));
    common::scenario::run(gw.port);
    assert!(
        gw.metric("sipedge_core_messages_in_total{worker=\"0\"}")
            + gw.metric("sipedge_core_messages_in_total{worker=\"1\"}")
            > 0
    );
}

/// The same over TCP: our connection carries requests to the core and its answers; the core's own requests (to the
/// callee, along our Path) arrive on its TCP connection to our WebSocket port.
#[test]
fn register_message_call_and_big_message_through_kamailio_over_tcp() {
    let core = common::Kamailio::start_core_with(true);
    let gw = common::Gateway::start(&format!(
        "[core]\nuri = \"sip:127.0.0.1:{};transport=tcp\"\n",
        core.port
    ));
    common::scenario::run(gw.port);
}
