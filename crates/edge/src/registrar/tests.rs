use super::*;

pub(super) fn flow(slot: u32) -> FlowId {
    FlowId {
        node: 1,
        worker: 0,
        slot,
        generation: 1,
        outbound: true,
        secure: false,
    }
}

fn contact(
    uri: &str,
    expires: Option<u32>,
    instance: Option<&str>,
    reg_id: Option<u32>,
) -> ContactUpdate {
    ContactUpdate {
        uri: uri.into(),
        expires,
        instance: instance.map(Into::into),
        reg_id,
    }
}

fn reg(
    action: RegisterAction,
    expires: Option<u32>,
    call_id: &str,
    cseq: u32,
    slot: u32,
) -> Register {
    Register {
        aor: normalize_aor("alice", "Example.COM"),
        action,
        expires_header: expires,
        call_id: call_id.into(),
        cseq,
        flow: flow(slot),
    }
}

const T0: Timestamp = Timestamp(1_000);

#[test]
fn aor_host_is_case_insensitive_user_is_not() {
    assert_eq!(normalize_aor("alice", "Example.COM"), "alice@example.com");
    assert_ne!(
        normalize_aor("Alice", "example.com"),
        normalize_aor("alice", "example.com")
    );
}

#[test]
fn register_refresh_and_unregister() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let c = contact(
        "sip:a@x.invalid;transport=ws",
        None,
        Some("urn:uuid:1"),
        Some(1),
    );
    let b = r
        .register(
            &reg(
                RegisterAction::Update(vec![c.clone()]),
                Some(600),
                "c1",
                1,
                17,
            ),
            T0,
        )
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].expires_in(T0), 600);
    // Refresh from a new flow with the same instance + reg-id replaces the binding (RFC 5626 §6).
    let b = r
        .register(
            &reg(
                RegisterAction::Update(vec![c.clone()]),
                Some(300),
                "c1",
                2,
                18,
            ),
            T0,
        )
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].flow.slot, 18);
    assert_eq!(b[0].expires_in(T0), 300);
    // Contact expires param wins over the Expires header; 0 removes.
    let gone = contact(
        "sip:a@x.invalid;transport=ws",
        Some(0),
        Some("urn:uuid:1"),
        Some(1),
    );
    let b = r
        .register(
            &reg(RegisterAction::Update(vec![gone]), Some(600), "c1", 3, 18),
            T0,
        )
        .unwrap();
    assert!(b.is_empty());
    assert_eq!(r.aor_count(), 0);
}

#[test]
fn bindings_without_instance_are_keyed_by_uri() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let a = contact("sip:a@one.invalid;transport=ws", None, None, None);
    let b = contact("sip:a@two.invalid;transport=ws", None, None, None);
    r.register(
        &reg(RegisterAction::Update(vec![a.clone()]), None, "c1", 1, 1),
        T0,
    )
    .unwrap();
    let list = r
        .register(
            &reg(RegisterAction::Update(vec![b]), None, "c2", 1, 2),
            Timestamp(2_000),
        )
        .unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        list[0].expires_in(T0),
        600,
        "default expiry applies when none is given"
    );
    assert_eq!(list[1].expires_in(T0), 601, "registered one second later");
    let found = r.lookup("alice@example.com", Timestamp(3_000));
    assert_eq!(
        found[0].uri(),
        "sip:a@two.invalid;transport=ws",
        "newest first"
    );
}

#[test]
fn wildcard_requires_expires_zero() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let c = contact("sip:a@x.invalid", None, None, None);
    r.register(&reg(RegisterAction::Update(vec![c]), None, "c1", 1, 1), T0)
        .unwrap();
    let err = r
        .register(&reg(RegisterAction::RemoveAll, Some(60), "c1", 2, 1), T0)
        .unwrap_err();
    assert_eq!(err, RegisterError::BadWildcard);
    assert_eq!(err.status(), 400);
    assert!(
        r.register(&reg(RegisterAction::RemoveAll, Some(0), "c1", 2, 1), T0)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn out_of_order_cseq_is_500_and_changes_nothing() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let c = contact("sip:a@x.invalid", None, None, None);
    r.register(
        &reg(
            RegisterAction::Update(vec![c.clone()]),
            Some(600),
            "c1",
            5,
            1,
        ),
        T0,
    )
    .unwrap();
    let err = r
        .register(
            &reg(RegisterAction::Update(vec![c]), Some(0), "c1", 5, 1),
            T0,
        )
        .unwrap_err();
    assert_eq!(err.status(), 500);
    assert_eq!(r.binding_count(), 1);
}

#[test]
fn too_brief_is_423_with_min_expires() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let c = contact("sip:a@x.invalid", Some(10), None, None);
    let err = r
        .register(&reg(RegisterAction::Update(vec![c]), None, "c1", 1, 1), T0)
        .unwrap_err();
    assert_eq!(err, RegisterError::IntervalTooBrief { min_expires: 60 });
    assert_eq!(err.status(), 423);
}

#[test]
fn long_expiry_is_shortened() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let c = contact("sip:a@x.invalid", Some(999_999), None, None);
    let b = r
        .register(&reg(RegisterAction::Update(vec![c]), None, "c1", 1, 1), T0)
        .unwrap();
    assert_eq!(b[0].expires_in(T0), 3600);
}

#[test]
fn binding_cap_per_aor() {
    let cfg = RegistrarConfig {
        max_bindings_per_aor: 2,
        ..RegistrarConfig::default()
    };
    let mut r = Registrar::new(cfg);
    for i in 0..2 {
        let c = contact(&format!("sip:a@{i}.invalid"), None, None, None);
        r.register(
            &reg(
                RegisterAction::Update(vec![c]),
                None,
                &format!("c{i}"),
                1,
                i,
            ),
            T0,
        )
        .unwrap();
    }
    let c = contact("sip:a@9.invalid", None, None, None);
    let err = r
        .register(&reg(RegisterAction::Update(vec![c]), None, "c9", 1, 9), T0)
        .unwrap_err();
    assert_eq!(err.status(), 403);
    assert_eq!(r.binding_count(), 2);
}

#[test]
fn expiry_by_timer_and_fetch() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let c = contact("sip:a@x.invalid", Some(60), None, None);
    r.register(&reg(RegisterAction::Update(vec![c]), None, "c1", 1, 1), T0)
        .unwrap();
    assert_eq!(r.next_expiry(), Some(Timestamp(61_000)));
    assert_eq!(r.expire(Timestamp(60_999)), 0);
    assert_eq!(
        r.register(&reg(RegisterAction::Fetch, None, "c1", 2, 1), T0)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(r.expire(Timestamp(61_000)), 1);
    assert!(r.lookup("alice@example.com", Timestamp(61_000)).is_empty());
    assert_eq!(r.aor_count(), 0);
}

#[test]
fn refreshed_binding_survives_its_old_expiry_entry() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let c = contact("sip:a@x.invalid", Some(60), None, None);
    r.register(
        &reg(RegisterAction::Update(vec![c.clone()]), None, "c1", 1, 1),
        T0,
    )
    .unwrap();
    r.register(
        &reg(RegisterAction::Update(vec![c]), None, "c1", 2, 1),
        Timestamp(50_000),
    )
    .unwrap();
    assert_eq!(r.expire(Timestamp(61_000)), 0);
    assert_eq!(r.binding_count(), 1);
    assert_eq!(r.expire(Timestamp(110_000)), 1);
}

#[test]
fn closed_flow_removes_its_bindings_only() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let a = contact("sip:a@one.invalid", None, None, None);
    let b = contact("sip:a@two.invalid", None, None, None);
    r.register(&reg(RegisterAction::Update(vec![a]), None, "c1", 1, 1), T0)
        .unwrap();
    r.register(&reg(RegisterAction::Update(vec![b]), None, "c2", 1, 2), T0)
        .unwrap();
    assert_eq!(r.remove_flow(&flow(1)), 1);
    let left = r.lookup("alice@example.com", T0);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].flow.slot, 2);
}

#[test]
fn refreshes_keep_one_expiry_entry_per_aor() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let c = contact("sip:a@x.invalid", Some(60), None, None);
    for cseq in 1..=50 {
        let now = Timestamp(1_000 * u64::from(cseq));
        r.register(
            &reg(RegisterAction::Update(vec![c.clone()]), None, "c1", cseq, 1),
            now,
        )
        .unwrap();
    }
    assert_eq!(r.expiry.len(), 1);
    // The entry comes due at the first registration's expiry; the binding was refreshed, so the entry
    // moves to the binding's new expiry instead of dropping it.
    assert_eq!(r.expire(Timestamp(61_000)), 0);
    assert_eq!(r.next_expiry(), Some(Timestamp(110_000)));
    assert_eq!(r.expire(Timestamp(110_000)), 1);
    assert_eq!(
        (r.aor_count(), r.binding_count(), r.expiry.len()),
        (0, 0, 0)
    );
}

#[test]
fn a_shorter_second_binding_expires_first_and_alone() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let long = contact("sip:a@one.invalid", Some(600), None, None);
    let short = contact("sip:a@two.invalid", Some(60), None, None);
    r.register(
        &reg(RegisterAction::Update(vec![long]), None, "c1", 1, 1),
        T0,
    )
    .unwrap();
    r.register(
        &reg(RegisterAction::Update(vec![short]), None, "c2", 1, 2),
        T0,
    )
    .unwrap();
    assert_eq!(r.next_expiry(), Some(Timestamp(61_000)));
    assert_eq!(r.expire(Timestamp(61_000)), 1);
    let left = r.lookup("alice@example.com", Timestamp(61_000));
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].uri(), "sip:a@one.invalid");
    assert_eq!(r.expire(Timestamp(600_999)), 0);
    assert_eq!(r.expire(Timestamp(601_000)), 1);
    assert_eq!(r.aor_count(), 0);
}

#[test]
fn binding_fields_round_trip_through_the_shared_allocation() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let with = contact("sip:a@one.invalid", None, Some("urn:uuid:1"), Some(2));
    let without = contact("sip:a@two.invalid", None, None, None);
    r.register(
        &reg(
            RegisterAction::Update(vec![with, without]),
            None,
            "call-9",
            4,
            1,
        ),
        T0,
    )
    .unwrap();
    let found = r.lookup("alice@example.com", T0);
    let one = found.iter().find(|b| b.reg_id == Some(2)).unwrap();
    assert_eq!(
        (one.uri(), one.instance(), one.call_id()),
        ("sip:a@one.invalid", Some("urn:uuid:1"), "call-9")
    );
    let two = found.iter().find(|b| b.reg_id.is_none()).unwrap();
    assert_eq!(
        (two.uri(), two.instance(), two.call_id()),
        ("sip:a@two.invalid", None, "call-9")
    );
}

/// The flow index lists exactly the (flow, AoR) pairs that have a binding, and the count is exact.
pub(super) fn assert_index_exact(r: &Registrar) {
    let mut indexed: Vec<(u32, String)> = r
        .flows
        .entries()
        .into_iter()
        .flat_map(|(f, aors)| aors.into_iter().map(move |a| (f.slot, a.to_string())))
        .collect();
    let mut held: Vec<(u32, String)> = r
        .aors
        .iter()
        .flat_map(|(a, e)| e.bindings.iter().map(move |b| (b.flow.slot, a.to_string())))
        .collect();
    indexed.sort();
    held.sort();
    held.dedup();
    assert_eq!(indexed, held);
    assert_eq!(
        r.binding_count(),
        r.aors.values().map(|a| a.bindings.len()).sum()
    );
}

/// A REGISTER of `user@example.com` from `slot` with one instance contact.
pub(super) fn reg_of(user: &str, instance: &str, expires: u32, cseq: u32, slot: u32) -> Register {
    Register {
        aor: normalize_aor(user, "example.com"),
        action: RegisterAction::Update(vec![contact(
            &format!("sip:{user}@{slot}.invalid"),
            Some(expires),
            Some(instance),
            Some(1),
        )]),
        expires_header: None,
        call_id: format!("c-{user}-{instance}"),
        cseq,
        flow: flow(slot),
    }
}

#[test]
fn a_binding_refreshed_from_another_connection_moves_to_it_in_the_flow_index() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.register(&reg_of("alice", "urn:uuid:1", 600, 1, 1), T0)
        .unwrap();
    // The browser reconnected: its instance refreshes the binding from the new connection (RFC 5626 §6).
    r.register(&reg_of("alice", "urn:uuid:1", 600, 2, 2), T0)
        .unwrap();
    assert_index_exact(&r);
    assert_eq!((r.held_by(&flow(1)), r.held_by(&flow(2))), (0, 1));
    assert_eq!(r.flow_count(), 1);
    assert_eq!(
        r.remove_flow(&flow(1)),
        0,
        "the old connection holds nothing"
    );
    assert_eq!(r.remove_flow(&flow(2)), 1);
    assert_index_exact(&r);
    assert_eq!(r.flow_count(), 0);
}

#[test]
fn another_connections_unregister_and_a_wildcard_leave_no_index_entry() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.register(&reg_of("alice", "urn:uuid:1", 600, 1, 1), T0)
        .unwrap();
    r.register(&reg_of("bob", "urn:uuid:2", 600, 1, 1), T0)
        .unwrap();
    r.register(&reg_of("bob", "urn:uuid:3", 600, 1, 2), T0)
        .unwrap();
    // Without [auth], any connection may remove a binding of the AoR: the owner's index follows.
    r.register(&reg_of("alice", "urn:uuid:1", 0, 2, 3), T0)
        .unwrap();
    assert_index_exact(&r);
    let mut star = reg(RegisterAction::RemoveAll, Some(0), "star", 1, 3);
    star.aor = normalize_aor("bob", "example.com");
    r.register(&star, T0).unwrap();
    assert_index_exact(&r);
    assert_eq!((r.binding_count(), r.flow_count()), (0, 0));
}

#[test]
fn a_connection_at_its_cap_cannot_take_over_another_connections_binding() {
    let cfg = RegistrarConfig {
        max_bindings_per_flow: 2,
        ..RegistrarConfig::default()
    };
    let mut r = Registrar::new(cfg);
    r.register(&reg_of("a", "urn:uuid:1", 600, 1, 1), T0)
        .unwrap();
    r.register(&reg_of("b", "urn:uuid:2", 600, 1, 1), T0)
        .unwrap();
    r.register(&reg_of("c", "urn:uuid:3", 600, 1, 2), T0)
        .unwrap();
    assert_eq!(
        r.register(&reg_of("c", "urn:uuid:3", 600, 2, 1), T0),
        Err(RegisterError::FlowBindingCap { max: 2 })
    );
    // Its own refreshes and removals are taken; a removal makes room in the same REGISTER's count.
    r.register(&reg_of("a", "urn:uuid:1", 600, 2, 1), T0)
        .unwrap();
    r.register(&reg_of("a", "urn:uuid:1", 0, 3, 1), T0).unwrap();
    r.register(&reg_of("c", "urn:uuid:3", 600, 2, 1), T0)
        .unwrap();
    assert_index_exact(&r);
    assert_eq!((r.held_by(&flow(1)), r.held_by(&flow(2))), (2, 0));
}

#[test]
fn expiry_keeps_the_flow_index_exact() {
    let mut r = Registrar::new(RegistrarConfig::default());
    r.register(&reg_of("alice", "urn:uuid:1", 60, 1, 1), T0)
        .unwrap();
    r.register(&reg_of("alice", "urn:uuid:2", 600, 1, 2), T0)
        .unwrap();
    r.register(&reg_of("bob", "urn:uuid:3", 60, 1, 1), T0)
        .unwrap();
    assert_eq!(r.expire(Timestamp(61_000)), 2);
    assert_index_exact(&r);
    assert_eq!((r.held_by(&flow(1)), r.flow_count()), (0, 1));
}

#[test]
fn reconfigured_bounds_apply_to_the_next_register_and_bindings_are_listed() {
    let mut r = Registrar::new(RegistrarConfig::default());
    let c = contact("sip:a@x.invalid;transport=ws", None, None, None);
    let update = |cseq| {
        reg(
            RegisterAction::Update(vec![c.clone()]),
            Some(3000),
            "c1",
            cseq,
            17,
        )
    };
    assert_eq!(r.register(&update(1), T0).unwrap()[0].expires_in(T0), 3000);
    r.reconfigure(
        RegistrarConfig {
            max_expires: 1200,
            ..RegistrarConfig::default()
        },
        1,
    );
    let listed: Vec<(&str, u32)> = r.bindings().map(|(a, b)| (a, b.expires_in(T0))).collect();
    assert_eq!(listed, [("alice@example.com", 3000)], "held bindings stay");
    assert_eq!(r.register(&update(2), T0).unwrap()[0].expires_in(T0), 1200);
}

#[test]
fn the_aor_of_a_register_is_its_to_uri() {
    let register = b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/WSS x.invalid;branch=z9hG4bK1\r\n\
        To: <sip:alice@Example.COM>\r\nFrom: <sip:alice@example.com>;tag=1\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n\
        Content-Length: 0\r\n\r\n";
    assert_eq!(
        aor_of_register(register).as_deref(),
        Some("alice@example.com")
    );
    let message = b"MESSAGE sip:bob@example.com SIP/2.0\r\nTo: <sip:bob@example.com>\r\n\r\n";
    assert_eq!(aor_of_register(message), None);
    assert_eq!(aor_of_register(b"REGISTER garbage"), None);
}
