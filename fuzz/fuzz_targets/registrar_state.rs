//! Registrar state fuzzing (a hand-over's serialized bindings): arbitrary bytes into `Registrar::import_state`.
//! Oracles: no panic; what is accepted is written as a state that reads back to the same bytes, with as many
//! bindings, AoRs and flows; it then takes a REGISTER, a closed flow and an expiry run without panicking.
#![no_main]
use edge::flow_token::FlowId;
use edge::registrar::{ContactUpdate, Register, RegisterAction, Registrar, RegistrarConfig};
use edge::time::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = RegistrarConfig::default();
    let now = Timestamp(1_000_000);
    let Ok(mut r) = Registrar::import_state(cfg, 1, now, data) else {
        return;
    };
    let mut again = Vec::new();
    r.export_state(now, &mut again).expect("what was read fits");
    let back = Registrar::import_state(cfg, 1, now, &again).expect("a state written is read");
    let mut third = Vec::new();
    back.export_state(now, &mut third).expect("what was read fits");
    assert_eq!(third, again, "a state read and written again is the same");
    assert_eq!(
        (back.binding_count(), back.aor_count(), back.flow_count()),
        (r.binding_count(), r.aor_count(), r.flow_count())
    );
    let flow = r.bindings().next().map_or(
        FlowId { node: 1, worker: 0, slot: 1, generation: 0, outbound: false, secure: false },
        |(_, b)| b.flow,
    );
    let aor = r.bindings().next().map_or_else(|| "a@b".to_string(), |(a, _)| a.to_string());
    let _ = r.register(
        &Register {
            aor,
            action: RegisterAction::Update(vec![ContactUpdate {
                uri: "sip:x@y.invalid".into(),
                expires: Some(600),
                instance: None,
                reg_id: None,
            }]),
            expires_header: None,
            call_id: "fuzz".into(),
            cseq: 1,
            flow,
        },
        now,
    );
    r.remove_flow(&flow);
    r.expire(Timestamp(u64::MAX));
    assert_eq!(r.binding_count(), 0);
});
