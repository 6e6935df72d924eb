use super::*;

/// The plan of a document, or its error as text.
fn plan(doc: &str) -> Result<Plan, String> {
    Config::from_toml(doc, "t")
        .and_then(Plan::new)
        .map_err(|e| e.to_string())
}

#[test]
fn printed_default_is_the_builtin_default() {
    assert_eq!(
        Config::from_toml(DEFAULT_TOML, "default.toml").unwrap(),
        Config::default()
    );
}

#[test]
fn batch_wait_takes_microseconds_and_zero() {
    let c = Config::from_toml("[runtime]\nbatch_wait = \"250us\"", "t").unwrap();
    assert_eq!(c.runtime.batch_wait, Duration::from_micros(250));
    let c = Config::from_toml("[runtime]\nbatch_wait = \"0s\"", "t").unwrap();
    assert_eq!(c.runtime.batch_wait, Duration::ZERO);
    assert!(Config::from_toml("[runtime]\nbatch_wait = \"soon\"", "t").is_err());
}

#[test]
fn empty_file_is_the_default() {
    assert_eq!(Config::from_toml("", "empty").unwrap(), Config::default());
}

#[test]
fn partial_file_overrides_only_what_it_names() {
    let c = Config::from_toml(
        "[core]\nuri = \"sip:10.0.0.1;transport=udp\"\n[limits]\nping_interval = \"5s\"",
        "t",
    )
    .unwrap();
    assert_eq!(
        c.core.unwrap().uri.as_slice(),
        ["sip:10.0.0.1;transport=udp"]
    );
    assert_eq!(c.limits.ping_interval, Duration::from_secs(5));
    assert_eq!(c.limits.max_message_size, 65536);
}

#[test]
fn an_unspecified_core_side_address_needs_an_advertised_host() {
    for local in ["0.0.0.0:5070", "[::]:5070"] {
        let doc = format!("[core]\nuri = \"sip:10.0.0.1\"\nlocal_address = \"{local}\"");
        let e = plan(&doc).unwrap_err();
        assert!(
            e.contains("core.advertise_host") && e.contains(local),
            "{e}"
        );
        let p = plan(&format!("{doc}\nadvertise_host = \"10.244.1.7\"")).unwrap();
        assert_eq!(p.core.unwrap().advertise_host, "10.244.1.7");
    }
}

#[test]
fn unknown_key_is_an_error_naming_it() {
    let e = Config::from_toml("[limits]\nmax_mesage_size = 1", "t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("max_mesage_size"), "{e}");
}

#[test]
fn inconsistent_values_are_refused() {
    for (doc, needle) in [
        ("listen = []", "listen"),
        ("[core]\nuri = \"http://x\"", "sip:"),
        ("[limits]\nmax_message_size = 10", "max_message_size"),
        ("[registrar]\nmin_expires = 900", "min_expires"),
        (
            "[[listen]]\naddress = \"127.0.0.1:1\"\npath = \"ws\"",
            "path",
        ),
        (
            "[[listen]]\naddress = \"127.0.0.1:1\"\n[[listen]]\naddress = \"127.0.0.1:1\"\npath = \"/b\"",
            "appears twice",
        ),
    ] {
        let e = plan(doc).unwrap_err();
        assert!(e.contains(needle), "{doc}: {e}");
    }
}

#[test]
fn tls_listener_is_parsed_and_checked() {
    let doc = "[[listen]]\naddress = \"127.0.0.1:8443\"\ntls = { cert = \"/nonexistent/c.pem\", key = \"/nonexistent/k.pem\", sni = [ { name = \"a.test\", cert = \"/nonexistent/a.pem\", key = \"/nonexistent/ak.pem\" } ] }";
    let e = plan(doc).unwrap_err();
    assert!(e.contains("/nonexistent/c.pem"), "{e}");
    let e =
        plan("[[listen]]\naddress = \"127.0.0.1:8443\"\ntls = { cert = \"/x.pem\" }").unwrap_err();
    assert!(e.contains("cert and key"), "{e}");
    let e = Config::from_toml(
        "[[listen]]\naddress = \"127.0.0.1:8443\"\ntls = { certs = \"/x.pem\" }",
        "t",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("certs"), "{e}");
}

#[test]
fn proxy_protocol_needs_trusted_proxies() {
    let listen = "[[listen]]\naddress = \"127.0.0.1:8080\"\nproxy_protocol = true\n";
    let e = plan(listen).unwrap_err();
    assert!(
        e.contains("proxy_protocol") && e.contains("trusted_proxies"),
        "{e}"
    );
    let p = plan(&format!(
        "{listen}[limits]\ntrusted_proxies = [\"10.0.0.9\"]\n"
    ))
    .unwrap();
    assert!(p.listeners[0].proxy_protocol);
    assert!(!Config::default().listen[0].proxy_protocol);
}

#[test]
fn admin_can_be_disabled() {
    assert!(plan("[admin]\nenabled = false").unwrap().admin.is_none());
    let admin = plan("").unwrap().admin.expect("on by default");
    assert_eq!(admin.listen, SocketAddr::from(([127, 0, 0, 1], 9090)));
    assert_eq!(admin.token, None);
}

#[test]
fn a_short_admin_token_or_a_long_key_overlap_is_refused() {
    let e = plan("[admin]\ntoken = \"short\"").unwrap_err().to_string();
    assert!(e.contains("admin.token has 5 characters"), "{e}");
    let token = plan("[admin]\ntoken = \"0123456789abcdef\"").unwrap();
    assert_eq!(
        token.admin.unwrap().token.as_deref(),
        Some("0123456789abcdef")
    );
    let e = plan("[auth]\nkey_overlap = \"8days\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("auth.key_overlap"), "{e}");
}

#[test]
fn empty_strings_are_refused_not_taken_as_unset() {
    for doc in [
        "[sip]\nflow_token_secret = \"\"",
        "[web]\nphone_dir = \"\"",
        "[auth]\nsecret = \"\"",
        "[auth]\naudience = \"\"",
    ] {
        let e = Config::from_toml(doc, "t").unwrap_err().to_string();
        assert!(e.contains("leave the key out"), "{doc}: {e}");
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let e =
        plan("[limits]\nmax_message_size = 10\nmax_frame_size = 0\n[registrar]\nmin_expires = 900")
            .unwrap_err();
    for needle in ["max_message_size", "max_frame_size", "min_expires"] {
        assert!(e.contains(needle), "{e}");
    }
}

#[test]
fn core_uri_is_parsed_once_and_ports_checked() {
    let p = plan("[core]\nuri = \"sip:10.0.0.1:5080;transport=tcp\"").unwrap();
    let core = p.core.unwrap();
    assert_eq!(
        (core.uris[0].port, core.uris[0].transport),
        (Some(5080), Some(CoreTransport::Tcp))
    );
    assert_eq!(core.advertise_host, "127.0.0.1");
    assert!(core.probing.is_some(), "probes are on by default");
    let e = plan("[runtime]\nworkers = 4\n[core]\nuri = \"sip:10.0.0.1\"\nlocal_address = \"127.0.0.1:65534\"")
        .unwrap_err();
    assert!(e.contains("65535"), "{e}");
    assert!(plan("[runtime]\nworkers = 2\n[core]\nuri = \"sip:10.0.0.1\"\nlocal_address = \"127.0.0.1:65534\"").is_ok());
}

#[test]
fn auth_algorithm_is_typed() {
    let e = Config::from_toml("[auth]\nalgorithm = \"none\"", "t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("HS256"), "{e}");
    let e = plan("[auth]\nmode = \"bearer\"").unwrap_err();
    assert!(e.contains("auth.secret"), "{e}");
}

/// An `[auth]` section with an HS256 secret of `len` bytes.
fn auth_doc(mode: &str, len: usize) -> String {
    format!(
        "[auth]\nmode = \"{mode}\"\nsecret = \"{}\"\n",
        "k".repeat(len)
    )
}

#[test]
fn a_cookie_listener_with_any_origin_is_refused() {
    // Cross-site WebSocket hijacking: a browser sends the cookie to a socket any web site opens.
    let e = plan(&auth_doc("cookie", 32)).unwrap_err();
    assert!(e.contains("cookie") && e.contains("allowed_origins"), "{e}");
    let allowed = "[limits]\nallowed_origins = [\"https://app.example\"]\n";
    assert!(plan(&format!("{allowed}{}", auth_doc("cookie", 32))).is_ok());
    assert!(plan(&auth_doc("bearer", 32)).is_ok());
}

#[test]
fn a_short_hs256_secret_is_refused() {
    // A secret shorter than the hash can be guessed offline from one token (RFC 7518 §3.2).
    let e = plan(&auth_doc("bearer", 31)).unwrap_err();
    assert!(e.contains("31 bytes") && e.contains("32"), "{e}");
    assert!(plan(&auth_doc("bearer", 32)).is_ok());
    match Config::from_toml(&auth_doc("bearer", 8), "t").and_then(Plan::new) {
        Err(ConfigError::Invalid(p)) => assert_eq!(
            p.0,
            vec![plan::Problem::Auth(
                crate::auth::AuthConfigError::ShortSecret(8)
            )]
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn auth_issuer_is_optional_and_not_empty() {
    let c = Config::from_toml("[auth]\nissuer = \"https://app.example\"", "t").unwrap();
    assert_eq!(c.auth.issuer.as_deref(), Some("https://app.example"));
    assert_eq!(Config::default().auth.issuer, None);
    let e = Config::from_toml("[auth]\nissuer = \"\"", "t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("leave the key out"), "{e}");
}

#[test]
fn ipv6_prefix_defaults_to_64_and_is_checked() {
    assert_eq!(plan("").unwrap().limits.ipv6_prefix, 64);
    for ok in [0, 48, 128] {
        assert_eq!(
            plan(&format!("[limits]\nipv6_prefix = {ok}"))
                .unwrap()
                .limits
                .ipv6_prefix,
            ok
        );
    }
    let e = plan("[limits]\nipv6_prefix = 129").unwrap_err();
    assert!(e.contains("ipv6_prefix = 129"), "{e}");
}

#[test]
fn deflate_is_on_by_default_and_its_ranges_are_checked() {
    let d = plan("").unwrap().deflate.expect("accepted by default");
    assert!(
        !d.server_no_context_takeover,
        "4 KiB of context toward the browser"
    );
    assert!(!d.client_no_context_takeover, "2 KiB of the browser's");
    assert_eq!((d.client_max_window_bits, d.level), (11, 6));
    assert_eq!(plan("[deflate]\nenabled = false").unwrap().deflate, None);
    let p = plan("[deflate]\nserver_window_bytes = 0\nclient_context_takeover = false").unwrap();
    let d = p.deflate.unwrap();
    assert!(d.server_no_context_takeover && d.client_no_context_takeover);
    let e = plan(
        "[deflate]\nlevel = 10\nserver_max_window_bits = 8\nclient_max_window_bits = 16\nserver_window_bytes = 1024",
    )
    .unwrap_err();
    for needle in [
        "deflate.level = 10",
        "server_max_window_bits = 8",
        "client_max_window_bits = 16",
        "server_window_bytes = 1024",
    ] {
        assert!(e.contains(needle), "{needle}: {e}");
    }
}

#[test]
fn an_ipv6_core_side_host_is_written_in_brackets() {
    let p = plan("[core]\nuri = \"sip:[::1]:5060\"\nlocal_address = \"[::1]:5070\"").unwrap();
    assert_eq!(p.core.unwrap().advertise_host, "[::1]");
    for (given, written) in [
        ("2001:db8::7", "[2001:db8::7]"),
        ("[2001:db8::7]", "[2001:db8::7]"),
        ("192.0.2.9", "192.0.2.9"),
        ("edge.example.net", "edge.example.net"),
    ] {
        let doc = format!("[core]\nuri = \"sip:core.example.net\"\nadvertise_host = \"{given}\"");
        assert_eq!(
            plan(&doc).unwrap().core.unwrap().advertise_host,
            written,
            "{given}"
        );
    }
}

#[test]
fn core_t1_defaults_to_rfc_3261s_and_is_bounded() {
    let p = plan("[core]\nuri = \"sip:10.0.0.1\"").unwrap();
    assert_eq!(p.core.unwrap().t1, Duration::from_millis(500));
    for bad in ["10ms", "11s"] {
        let e = plan(&format!("[core]\nuri = \"sip:10.0.0.1\"\nt1 = \"{bad}\"")).unwrap_err();
        assert!(
            e.contains(&format!("core.t1 = {bad} must be from 50ms to 10s")),
            "{e}"
        );
    }
}

#[test]
fn several_core_uris_keep_their_order_and_share_one_transport() {
    let p = plan("[core]\nuri = [\"sip:10.0.0.1:5060\", \"sip:core2.example.net\"]").unwrap();
    assert_eq!(p.core.unwrap().uris.len(), 2);
    let e = plan("[core]\nuri = [\"sip:10.0.0.1;transport=udp\", \"sip:10.0.0.2;transport=tcp\"]")
        .unwrap_err();
    assert!(e.contains("same transport"), "{e}");
    let e = plan("[core]\nuri = []").unwrap_err();
    assert!(e.contains("core.uri names no URI"), "{e}");
}

#[test]
fn a_probe_timeout_must_be_shorter_than_its_interval() {
    let e = plan("[core]\nuri = \"sip:10.0.0.1\"\nprobe_interval = \"1s\"\nprobe_timeout = \"1s\"")
        .unwrap_err();
    assert!(e.contains("core.probe_timeout"), "{e}");
    let e = plan("[core]\nuri = \"sip:10.0.0.1\"\ndown_after = 0").unwrap_err();
    assert!(e.contains("core.down_after must be > 0"), "{e}");
    let p = plan("[core]\nuri = \"sip:10.0.0.1\"\nprobes = false").unwrap();
    assert!(p.core.unwrap().probing.is_none());
}

#[test]
fn core_tls_files_that_cannot_be_used_are_named() {
    let e = plan("[core]\nuri = \"sips:10.0.0.1\"\n[core.tls]\nca = \"/nonexistent/ca.pem\"")
        .unwrap_err();
    assert!(
        e.contains("core.tls") && e.contains("/nonexistent/ca.pem"),
        "{e}"
    );
    let e = plan("[core]\nuri = \"sips:10.0.0.1\"\n[core.tls]\ncert = \"/x.pem\"").unwrap_err();
    assert!(e.contains("give cert and key together"), "{e}");
    let e = plan("[core]\nuri = \"sip:10.0.0.1;transport=udp\"\n[core.tls]\nserver_name = \"x\"")
        .unwrap_err();
    assert!(e.contains("names another transport"), "{e}");
}

#[test]
fn capture_is_off_by_default_and_typed_when_on() {
    assert!(plan("").unwrap().capture.is_none());
    let p = plan(
        "[capture]\nhep = \"127.0.0.1:9060\"\nagent_id = 7\npassword = \"pw\"\nsample = 0.25\n\
         methods = [\"invite\", \"BYE\"]",
    )
    .unwrap();
    let c = p.capture.unwrap();
    assert_eq!(c.collector, "127.0.0.1:9060".parse().unwrap());
    assert_eq!(c.agent_id, 7);
    assert_eq!(c.password.as_deref(), Some("pw"));
    assert_eq!(c.sample, 0.25);
    assert_eq!(c.methods, ["INVITE", "BYE"]);
}

#[test]
fn capture_rules_are_checked() {
    let e = plan("[capture]\nhep = \"127.0.0.1:0\"\nsample = 1.5\nmethods = [\"IN VITE\", \"\"]")
        .unwrap_err();
    for want in [
        "capture.sample = 1.5 must be from 0.0 to 1.0",
        "capture.methods: \"IN VITE\" is not a SIP method",
        "capture.methods: \"\" is not a SIP method",
        "capture.hep = 127.0.0.1:0: the collector needs a port",
    ] {
        assert!(e.contains(want), "{want:?} not in {e}");
    }
    assert!(plan("[capture]\nhep = \"not an address\"").is_err());
    assert!(plan("[capture]\npassword = \"\"").is_err());
    assert!(plan("[capture]\nhepp = \"127.0.0.1:9060\"").is_err());
}

#[test]
fn connection_rates_are_bounded_by_what_a_bucket_counts() {
    assert_eq!(plan("").unwrap().limits.handshakes_per_second, 0);
    let ok = plan("[limits]\nhandshakes_per_second = 1000000").unwrap();
    assert_eq!(ok.limits.handshakes_per_second, 1_000_000);
    for key in [
        "handshakes_per_second",
        "handshakes_per_ip_per_second",
        "handshake_burst",
    ] {
        let e = plan(&format!("[limits]\n{key} = 1000001")).unwrap_err();
        assert!(
            e.contains(&format!("limits.{key} = 1000001 must be at most 1000000")),
            "{e}"
        );
    }
}

#[test]
fn the_udp_receive_buffer_toward_the_core_defaults_to_4_mib_and_is_bounded() {
    let p = plan("[core]\nuri = \"sip:10.0.0.1\"").unwrap();
    assert_eq!(p.core.unwrap().udp_receive_buffer, 4 << 20);
    for bad in [1000, 2_000_000_000] {
        let e = plan(&format!(
            "[core]\nuri = \"sip:10.0.0.1\"\nudp_receive_buffer = {bad}"
        ))
        .unwrap_err();
        assert!(
            e.contains(&format!(
                "core.udp_receive_buffer = {bad} must be from 65536 to 1073741824 bytes"
            )),
            "{e}"
        );
    }
}

#[test]
fn the_share_of_logged_connections_is_a_share() {
    assert_eq!(plan("").unwrap().log.connections, 0.0);
    assert_eq!(
        plan("[log]\nconnections = 0.25").unwrap().log.connections,
        0.25
    );
    for bad in ["-0.1", "1.5", "nan"] {
        let e = plan(&format!("[log]\nconnections = {bad}")).unwrap_err();
        assert!(e.contains("log.connections = "), "{e}");
    }
}
