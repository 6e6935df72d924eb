//! RFC 4475 §3.1.1 (valid) and §3.1.2 (invalid) torture messages.

use sipscan::{
    Contact, EditError, Editor, HeaderName, Host, Kind, Message, Method, ScanError, Uri, ViewError,
    Violation,
};

fn load(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/tests/data/rfc4475/{name}.sip",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn valid(name: &str) -> Message<'static> {
    let bytes: &'static [u8] = Box::leak(load(name).into_boxed_slice());
    let msg = Message::parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    msg.check().unwrap_or_else(|e| panic!("{name}: {e}"));
    // Every view must be reachable without panicking, and an edge edit must re-scan.
    let mut ed = Editor::new(&msg);
    ed.insert_first(HeaderName::Via, b"SIP/2.0/UDP edge.invalid;branch=z9hG4bKe");
    let mut out = Vec::new();
    ed.write_into(&mut out).unwrap();
    let again = Message::parse(&out).unwrap();
    assert_eq!(again.header_count(), msg.header_count() + 1, "{name}");
    assert_eq!(again.body(), msg.body(), "{name}");
    msg
}

fn sip<'a>(u: &Uri<'a>) -> sipscan::SipUri<'a> {
    *u.sip().expect("sip uri")
}

#[test]
fn s3_1_1_1_wsinv() {
    let m = valid("wsinv");
    let Kind::Request { method, uri } = m.kind() else {
        panic!()
    };
    assert_eq!(method, Method::Invite);
    assert_eq!(uri, b"sip:vivekg@chair-dnrc.example.com;unknownparam");
    let to = m.to().unwrap().unwrap();
    assert_eq!(to.display_name, None);
    assert_eq!(to.tag(), Some(&b"1918181833n"[..]));
    assert_eq!(sip(&to.uri).user, Some(&b"vivekg"[..]));
    let from = m.from().unwrap().unwrap();
    assert_eq!(from.display_name, Some(&br#"J Rosenberg \\\""#[..]));
    assert_eq!(from.tag(), Some(&b"98asjd8"[..]));
    assert_eq!(m.max_forwards(), Some(Ok(68)));
    assert_eq!(m.call_id(), Some(&b"wsinv.ndaksdj@192.0.2.1"[..]));
    assert_eq!(m.content_length(), Some(150));
    let cseq = m.cseq().unwrap().unwrap();
    assert_eq!((cseq.seq, cseq.method), (9, Method::Invite));
    let vias: Vec<_> = m.vias().map(Result::unwrap).collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].transport, b"UDP");
    assert_eq!(vias[0].host, Host::Ipv4(b"192.0.2.2"));
    assert_eq!(vias[0].branch(), Some(&b"390skdjuw"[..]));
    assert_eq!(vias[1].transport, b"TCP");
    assert_eq!(vias[1].host, Host::Name(b"spindle.example.com"));
    assert_eq!(vias[1].branch(), Some(&b"z9hG4bK9ikj8"[..]));
    assert_eq!(vias[2].host, Host::Ipv4(b"192.168.255.111"));
    assert_eq!(vias[2].branch(), Some(&b"z9hG4bK30239"[..]));
    let subject = m.get_other(b"s").next().unwrap();
    assert_eq!(subject.value(), b"");
    let nf = m.get_other(b"NewFangledHeader").next().unwrap();
    assert_eq!(
        nf.value(),
        b"newfangled value\r\n continued newfangled value"
    );
    let un = m
        .get_other(b"UnknownHeaderWithUnusualValue")
        .next()
        .unwrap();
    assert_eq!(un.value(), b";;,,;;,;");
    let route = m.routes().next().unwrap().unwrap();
    let r = sip(&route.uri);
    assert!(r.lr());
    assert_eq!(r.param("unknownwith"), Some(Some(&b"value"[..])));
    assert_eq!(r.param("unknown-no-value"), Some(None));
    let contacts: Vec<_> = m.contacts().map(Result::unwrap).collect();
    let [Contact::Addr(c)] = contacts.as_slice() else {
        panic!("{contacts:?}")
    };
    assert_eq!(c.display_name, Some(&br#"Quoted string \"\""#[..]));
    assert_eq!(c.params.get("newparam"), Some(Some(&b"newvalue"[..])));
    assert_eq!(c.params.get("secondparam"), Some(None));
    assert_eq!(c.params.get("q"), Some(Some(&b"0.33"[..])));
    assert_eq!(m.body().len(), 150);
}

#[test]
fn s3_1_1_2_intmeth() {
    let m = valid("intmeth");
    let method = m.method().unwrap();
    assert_eq!(
        method,
        Method::Other(b"!interesting-Method0123456789_*+`.%indeed'~")
    );
    let ru = m.request_uri_view().unwrap().unwrap();
    let ru = sip(&ru);
    assert_eq!(
        ru.user,
        Some(&b"1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"[..])
    );
    assert_eq!(
        ru.password,
        Some(&b"&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"[..])
    );
    assert_eq!(ru.host, Host::Name(b"example.com"));
    assert_eq!(ru.headers, None);
    let to = m.to().unwrap().unwrap();
    assert_eq!(
        to.display_name,
        Some(&b"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f"[..])
    );
    let from = m.from().unwrap().unwrap();
    assert_eq!(
        from.display_name,
        Some(&b"token1~` token2'+_ token3*%!.-"[..])
    );
    assert_eq!(from.tag(), Some(&b"_token~1'+`*%!-."[..]));
    let odd = from.params.get("fromParam''~+*_!.-%").unwrap().unwrap();
    assert_eq!(sipscan::unquote(odd), "работающий".as_bytes());
    assert_eq!(
        m.call_id(),
        Some(&br#"intmeth.word%ZK-!.*_+'@word`~)(><:\/"][?}{"#[..])
    );
    let cseq = m.cseq().unwrap().unwrap();
    assert_eq!((cseq.seq, cseq.method), (139122385, method));
    assert_eq!(m.max_forwards(), Some(Ok(255)));
    assert_eq!(
        m.top_via().unwrap().unwrap().branch(),
        Some(&b"z9hG4bK-.!%66*_+`'~"[..])
    );
    let ext = m.get_other(b"extensionHeader-!.%*+_`'~").next().unwrap();
    assert_eq!(ext.value(), "\u{feff}大停電".as_bytes());
}

#[test]
fn s3_1_1_3_esc01() {
    let m = valid("esc01");
    let ru = m.request_uri_view().unwrap().unwrap();
    assert_eq!(sip(&ru).user, Some(&b"sips%3Auser%40example.com"[..]));
    assert_eq!(
        sip(&m.to().unwrap().unwrap().uri).user,
        Some(&b"%75se%72"[..])
    );
    assert_eq!(
        m.call_id(),
        Some(&b"esc01.239409asdfakjkn23onasd0-3234"[..])
    );
    assert_eq!(
        m.get(HeaderName::ContentType).unwrap().value(),
        b"application/sdp"
    );
    let Some(Ok(Contact::Addr(c))) = m.contacts().next() else {
        panic!()
    };
    let u = sip(&c.uri);
    assert_eq!(u.user, Some(&b"cal%6Cer"[..]));
    assert_eq!(u.param("%6C%72"), Some(None));
    assert_eq!(u.param("n%61me"), Some(Some(&b"v%61lue%25%34%31"[..])));
}

#[test]
fn s3_1_1_4_escnull() {
    let m = valid("escnull");
    assert_eq!(m.method(), Some(Method::Register));
    let users: Vec<_> = m
        .contacts()
        .map(|c| match c.unwrap() {
            Contact::Addr(a) => sip(&a.uri).user.unwrap(),
            Contact::Star => panic!(),
        })
        .collect();
    assert_eq!(users, vec![&b"%00"[..], b"%00%00"]);
    assert_eq!(m.content_length(), Some(0));
}

#[test]
fn s3_1_1_5_esc02() {
    let m = valid("esc02");
    assert_eq!(m.method(), Some(Method::Other(b"RE%47IST%45R")));
    assert_eq!(m.to().unwrap().unwrap().display_name, Some(&b"%Z%45"[..]));
    assert_eq!(m.contacts().count(), 2, "C%6Fntact is not Contact");
    assert_eq!(
        m.get_other(b"C%6Fntact").next().unwrap().value(),
        b"<sip:alias2@host2.example.com>"
    );
    assert_eq!(
        m.top_via().unwrap().unwrap().branch(),
        Some(&b"z9hG4bK209%fzsnel234"[..])
    );
}

#[test]
fn s3_1_1_6_lwsdisp() {
    let m = valid("lwsdisp");
    let from = m.from().unwrap().unwrap();
    assert_eq!(from.display_name, Some(&b"caller"[..]));
    assert_eq!(from.tag(), Some(&b"323"[..]));
}

#[test]
fn s3_1_1_7_longreq() {
    let m = valid("longreq");
    assert!(
        m.header_count() > sipscan::INLINE_HEADERS,
        "spills past the inline index"
    );
    let vias: Vec<_> = m.vias().map(Result::unwrap).collect();
    assert_eq!(vias.len(), 34);
    for (i, v) in vias.iter().take(33).enumerate() {
        assert_eq!(
            v.host.as_bytes(),
            format!("sip{}.example.com", 33 - i).as_bytes()
        );
    }
    assert_eq!(vias[33].received(), Some(&b"192.0.2.5"[..]));
    let to = m.to().unwrap().unwrap();
    assert_eq!(sip(&to.uri).port, Some(6000));
    assert_eq!(sip(&to.uri).param_iter().count(), 3);
    let from = m.from().unwrap().unwrap();
    assert_eq!(from.params.len(), 3);
    assert_eq!(m.content_length(), Some(150));
}

#[test]
fn s3_1_1_8_dblreq() {
    let m = valid("dblreq");
    assert_eq!(m.method(), Some(Method::Register));
    assert_eq!(m.body(), b"");
    assert!(
        m.trailing()
            .starts_with(b"INVITE sip:joe@example.com SIP/2.0\r\n")
    );
    assert_eq!(
        m.call_id(),
        Some(&b"dblreq.0ha0isndaksdj99sdfafnl3lk233412"[..])
    );
    // The editor drops the spurious octets.
    let mut out = Vec::new();
    Editor::new(&m).write_into(&mut out).unwrap();
    assert!(!out.windows(6).any(|w| w == b"INVITE"));
}

#[test]
fn s3_1_1_9_semiuri() {
    let m = valid("semiuri");
    let ru = m.request_uri_view().unwrap().unwrap();
    assert_eq!(sip(&ru).user, Some(&b"user;par=u%40example.net"[..]));
    assert_eq!(sip(&ru).host, Host::Name(b"example.com"));
    let accept = m.get_other(b"Accept").next().unwrap();
    assert_eq!(sipscan::list::Elements::new(accept.value()).count(), 6);
}

#[test]
fn s3_1_1_10_transports() {
    let m = valid("transports");
    let t: Vec<_> = m.vias().map(|v| v.unwrap().transport).collect();
    assert_eq!(t, vec![&b"UDP"[..], b"SCTP", b"TLS", b"UNKNOWN", b"TCP"]);
}

#[test]
fn s3_1_1_11_mpart01() {
    let m = valid("mpart01");
    let v = m.top_via().unwrap().unwrap();
    assert_eq!(v.port, Some(5070));
    assert_eq!(v.rport(), Some(None));
    assert_eq!(m.body().len(), m.content_length().unwrap() as usize);
    assert!(m.body().contains(&0));
    assert_eq!(
        sip(&m.routes().next().unwrap().unwrap().uri).port,
        Some(5080)
    );
}

#[test]
fn s3_1_1_12_unreason() {
    let m = valid("unreason");
    let Kind::Response { code, reason } = m.kind() else {
        panic!()
    };
    assert_eq!(code, 200);
    assert_eq!(
        reason,
        "= 2**3 * 5**2 но сто девяносто девять - простое".as_bytes()
    );
    assert_eq!(m.body().len(), 154);
}

#[test]
fn s3_1_1_13_noreason() {
    let m = valid("noreason");
    assert_eq!(
        m.kind(),
        Kind::Response {
            code: 100,
            reason: b""
        }
    );
}

fn scan_err(name: &str) -> ScanError {
    let b = load(name);
    Message::parse(&b).expect_err(name)
}

fn violation(name: &str) -> Violation {
    let b = load(name);
    let m = Message::parse(&b).unwrap_or_else(|e| panic!("{name}: {e}"));
    m.check().expect_err(name)
}

#[test]
fn s3_1_2_invalid_messages() {
    use HeaderName as H;
    assert_eq!(
        violation("badinv01"),
        Violation::Invalid(H::Via, ViewError::Param)
    );
    assert_eq!(scan_err("clerr"), ScanError::ContentLengthExceedsBody);
    assert_eq!(scan_err("ncl"), ScanError::ContentLength);
    assert_eq!(
        violation("scalar02"),
        Violation::Invalid(H::CSeq, ViewError::OutOfRange)
    );
    assert_eq!(
        violation("scalarlg"),
        Violation::Invalid(H::CSeq, ViewError::OutOfRange)
    );
    assert_eq!(
        violation("quotbal"),
        Violation::Invalid(H::To, ViewError::UnterminatedQuote)
    );
    assert_eq!(scan_err("ltgtruri"), ScanError::RequestUri);
    assert_eq!(scan_err("lwsruri"), ScanError::RequestLine);
    assert_eq!(scan_err("lwsstart"), ScanError::RequestLine);
    assert_eq!(scan_err("trws"), ScanError::RequestLine);
    assert_eq!(violation("escruri"), Violation::RequestUriHeaders);
    assert_eq!(
        violation("regbadct"),
        Violation::Invalid(H::Contact, ViewError::NeedsNameAddr)
    );
    assert_eq!(
        violation("badaspec"),
        Violation::Invalid(H::To, ViewError::LwsInUri)
    );
    assert_eq!(
        violation("baddn"),
        Violation::Invalid(H::From, ViewError::DisplayName)
    );
    assert_eq!(scan_err("badvers"), ScanError::Version);
    assert_eq!(scan_err("badvers").status_code(), 505);
    assert_eq!(violation("mismatch01"), Violation::CSeqMethodMismatch);
    assert_eq!(violation("mismatch02"), Violation::CSeqMethodMismatch);
    assert_eq!(scan_err("bigcode"), ScanError::StatusCode);
}

#[test]
fn s3_1_2_4_scalar02_other_fields_also_flagged() {
    let b = load("scalar02");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.max_forwards(), Some(Err(ViewError::OutOfRange)));
    assert_eq!(m.expires(), Some(Err(ViewError::OutOfRange)));
    let Some(Ok(Contact::Addr(c))) = m.contacts().next() else {
        panic!()
    };
    assert_eq!(c.expires(), Some(Err(ViewError::OutOfRange)));
    assert_eq!(
        Editor::new(&m).decrement_max_forwards(),
        Err(EditError::MaxForwards(ViewError::OutOfRange))
    );
}

#[test]
fn s3_1_2_12_baddate_is_forwarded_untouched() {
    // RFC 4475: reject only if the Date matters; the edge does not read Date.
    let b = load("baddate");
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.check(), Ok(()));
    assert_eq!(
        m.get_other(b"Date").next().unwrap().value(),
        b"Fri, 01 Jan 2010 16:00:00 EST"
    );
}

#[test]
fn invalid_messages_never_panic_on_any_view() {
    for name in [
        "badinv01",
        "clerr",
        "ncl",
        "scalar02",
        "scalarlg",
        "quotbal",
        "ltgtruri",
        "lwsruri",
        "lwsstart",
        "trws",
        "escruri",
        "baddate",
        "regbadct",
        "badaspec",
        "baddn",
        "badvers",
        "mismatch01",
        "mismatch02",
        "bigcode",
    ] {
        let b = load(name);
        for cut in [b.len(), b.len() / 2, 10] {
            if let Ok(m) = Message::parse(&b[..cut]) {
                let _ = m.check();
                let _ = m.vias().count() + m.contacts().count() + m.routes().count();
                let _ = (
                    m.to(),
                    m.from(),
                    m.cseq(),
                    m.max_forwards(),
                    m.request_uri_view(),
                );
            }
        }
    }
}
