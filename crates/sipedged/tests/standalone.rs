//! (a) Two WebSocket SIP clients through sipedge alone (standalone registrar), two workers.

mod common;

#[test]
fn register_message_call_and_big_message_through_standalone() {
    let gw = common::Gateway::start("");
    common::scenario::run(gw.port);
    assert!(gw.metric("sipedge_sip_requests_total{method=\"INVITE\"}") >= 1);
    assert!(gw.metric("sipedge_sip_requests_total{method=\"REGISTER\"}") >= 4);
}
