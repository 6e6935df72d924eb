//! sipedge in edge mode in front of Kamailio as a TLS core (deploy/kamailio/tls-core.cfg): a test CA made here
//! (rcgen) signs the core's certificate ("core.test", IP 127.0.0.1) and the edge's (its wss listener, where the
//! core's own requests arrive, and its client certificate for mutual TLS). The whole two-user scenario passes
//! with mutual TLS; a core whose certificate does not carry the name sipedge checks (server_name, else the URI's
//! IP address) is refused with a log line naming TLS and the reason, a count in
//! `sipedge_core_tls_failures_total`, and 503 to the browser.
//!
//! Needs Kamailio with its TLS module (Debian packages kamailio and kamailio-tls-modules): built only with the
//! `interop` feature (`cargo test -p sipedged --features interop --test tls_core`).
#![cfg(feature = "interop")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Gateway, TempDir, Ua, free_tcp_port, status, text, wait_listening};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};

/// The test CA and the two certificates it signs, as PEM files in one directory.
struct Pki {
    dir: TempDir,
}

impl Pki {
    fn new() -> Self {
        let dir = TempDir::new("tls-core-pki");
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "sipedge test CA");
        let ca_key = KeyPair::generate().unwrap();
        std::fs::write(dir.0.join("ca.pem"), ca.self_signed(&ca_key).unwrap().pem()).unwrap();
        let issuer = Issuer::from_params(&ca, &ca_key);
        // core-dns: the core's name only, no IP address.
        for (name, dns, ip) in [
            ("core", "core.test", true),
            ("core-dns", "core.test", false),
            ("edge", "edge.test", true),
        ] {
            let mut leaf = CertificateParams::new(vec![dns.to_string()]).unwrap();
            if ip {
                leaf.subject_alt_names
                    .push(SanType::IpAddress([127, 0, 0, 1].into()));
            }
            leaf.distinguished_name.push(rcgen::DnType::CommonName, dns);
            let key = KeyPair::generate().unwrap();
            let cert = leaf.signed_by(&key, &issuer).unwrap();
            std::fs::write(dir.0.join(format!("{name}.pem")), cert.pem()).unwrap();
            std::fs::write(dir.0.join(format!("{name}.key")), key.serialize_pem()).unwrap();
        }
        Self { dir }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.0.join(file)
    }
}

/// Kamailio with deploy/kamailio/tls-core.cfg on tls:127.0.0.1, stopped on drop.
struct TlsCore {
    pid_file: PathBuf,
    port: u16,
    _dir: TempDir,
}

impl TlsCore {
    /// The core presents `pki`'s certificate `cert` (core or core-dns). With `mutual`, it asks for the client's
    /// certificate and refuses a handshake without one from `pki`'s CA.
    fn start(pki: &Pki, cert: &str, mutual: bool) -> Self {
        let dir = TempDir::new("tls-core");
        let verify = if mutual { "yes" } else { "no" };
        let tls_cfg = dir.0.join("kamailio-tls.cfg");
        std::fs::write(
            &tls_cfg,
            format!(
                "[server:default]\nmethod = TLSv1.2+\nverify_certificate = {verify}\nrequire_certificate = {verify}\n\
certificate = {}\nprivate_key = {}\nca_list = {}\n\n\
[client:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n",
                pki.path(&format!("{cert}.pem")).display(),
                pki.path(&format!("{cert}.key")).display(),
                pki.path("ca.pem").display()
            ),
        )
        .unwrap();
        let port = free_tcp_port();
        let pid_file = dir.0.join("kamailio.pid");
        let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kamailio/tls-core.cfg");
        let status = Command::new("kamailio")
            .arg("-f")
            .arg(&cfg)
            .arg("-P")
            .arg(&pid_file)
            .args(["-A", &format!("CORE_LISTEN=tls:127.0.0.1:{port}")])
            .args(["-A", &format!("CORE_TLS_CFG=\"{}\"", tls_cfg.display())])
            .arg("-E")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("kamailio must be installed (Debian packages kamailio, kamailio-tls-modules)");
        assert!(status.success(), "kamailio (tls-core.cfg) failed to start");
        assert!(
            wait_listening(port),
            "kamailio does not listen on tls:{port}"
        );
        Self {
            pid_file,
            port,
            _dir: dir,
        }
    }
}

impl Drop for TlsCore {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            let _ = Command::new("kill").arg(pid.trim()).status();
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// sipedged in front of `core` over TLS (`core_keys` in `[core]`, `core_tls` in `[core.tls]`, lines ending in
/// newlines), with a wss:// listener from `pki` beside the plain one: the core's own requests come back there.
fn start_edge(pki: &Pki, core: &TlsCore, core_keys: &str, core_tls: &str) -> Gateway {
    let wss = free_tcp_port();
    Gateway::start(&format!(
        "[[listen]]\naddress = \"127.0.0.1:{wss}\"\ntls = {{ cert = \"{}\", key = \"{}\" }}\n\
[core]\nuri = \"sip:127.0.0.1:{};transport=tls\"\n{core_keys}[core.tls]\nca = \"{}\"\n{core_tls}",
        pki.path("edge.pem").display(),
        pki.path("edge.key").display(),
        core.port,
        pki.path("ca.pem").display(),
    ))
}

const FAILURES: &str = "sipedge_core_tls_failures_total";

#[test]
fn register_message_call_through_a_tls_core_with_mutual_tls() {
    let pki = Pki::new();
    let core = TlsCore::start(&pki, "core", true);
    let edge = start_edge(
        &pki,
        &core,
        "",
        &format!(
            "cert = \"{}\"\nkey = \"{}\"\nserver_name = \"core.test\"\n",
            pki.path("edge.pem").display(),
            pki.path("edge.key").display()
        ),
    );
    // REGISTER and MESSAGE go to the core over our TLS connection; the INVITE to bob and alice's BYE come from
    // the core over its own TLS connection to our wss listener, along Path and Record-Route.
    common::scenario::run(edge.port);
    assert_eq!(edge.metric_sum(FAILURES), 0, "{}", edge.log());
}

#[test]
fn without_a_server_name_an_ip_literal_core_uri_is_checked_against_the_certificates_ip_addresses() {
    let pki = Pki::new();
    // No server_name: the URI's host, 127.0.0.1, must be one of the certificate's IP addresses.
    let core = TlsCore::start(&pki, "core", false);
    let edge = start_edge(&pki, &core, "", "");
    let r = Ua::new("carol", edge.port).register(300);
    assert_eq!(status(&r), 200, "{}\n{}", text(&r), edge.log());
    assert_eq!(edge.metric_sum(FAILURES), 0, "{}", edge.log());
    // A certificate naming core.test only does not do for 127.0.0.1.
    let core = TlsCore::start(&pki, "core-dns", false);
    let edge = start_edge(&pki, &core, "", "");
    let r = Ua::new("carol", edge.port).register(300);
    assert_eq!(status(&r), 503, "{}\n{}", text(&r), edge.log());
    assert!(edge.metric_sum(FAILURES) >= 1, "{}", edge.log());
}

#[test]
fn a_core_certificate_for_another_name_is_refused_with_a_log_line_a_count_and_503() {
    let pki = Pki::new();
    let core = TlsCore::start(&pki, "core", false);
    let edge = start_edge(&pki, &core, "", "server_name = \"wrong.test\"\n");
    let mut ua = Ua::new("dave", edge.port);
    let r = ua.register(300);
    assert_eq!(status(&r), 503, "{}", text(&r));
    let log = edge.log();
    // rustls's reason, as its Display writes CertificateError::NotValidForName.
    assert!(
        log.lines()
            .any(|l| l.contains("TLS handshake with the core refused")
                && l.contains("certificate not valid for name \"wrong.test\"")),
        "no log line naming TLS and the wrong name:\n{log}"
    );
    assert!(edge.metric_sum(FAILURES) >= 1, "{log}");
}

#[test]
fn a_core_that_refuses_the_session_after_the_handshake_gets_the_request_answered_503() {
    // TLS 1.3: the client's handshake is complete before the core checks for a client certificate; without one
    // the core closes the session with the REGISTER already written. Probes are off, so only the closed
    // connection tells the edge.
    let pki = Pki::new();
    let core = TlsCore::start(&pki, "core", true);
    let edge = start_edge(
        &pki,
        &core,
        "probes = false\n",
        "server_name = \"core.test\"\n",
    );
    let mut ua = Ua::new("erin", edge.port);
    let asked = Instant::now();
    let r = ua.register(300);
    assert_eq!(status(&r), 503, "{}", text(&r));
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    assert!(edge.metric_sum(FAILURES) >= 1, "{}", edge.log());
}
