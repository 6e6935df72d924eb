use super::*;

/// Expand `text` with the variables `vars` (every other one unset).
fn with(vars: &[(&str, &str)], text: &str) -> Result<String, EnvError> {
    expand(text, |name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
            .ok_or(VarError::NotPresent)
    })
}

/// The document `text` expanded with `vars`, parsed.
fn parsed(vars: &[(&str, &str)], text: &str) -> toml::Table {
    let expanded = with(vars, text).unwrap();
    toml::from_str(&expanded).unwrap_or_else(|e| panic!("{expanded}: {e}"))
}

#[test]
fn strings_and_integer_positions_take_the_values() {
    let t = parsed(
        &[("NODE_ID", "7"), ("POD_IP", "10.1.2.3")],
        "[sip]\nnode_id = ${NODE_ID}\n[core]\nadvertise_host = \"${POD_IP}\"\n\
         local_address = \"${POD_IP}:5070\"\nprobes = ${PROBES:-false}\n",
    );
    assert_eq!(t["sip"]["node_id"].as_integer(), Some(7));
    assert_eq!(t["core"]["advertise_host"].as_str(), Some("10.1.2.3"));
    assert_eq!(t["core"]["local_address"].as_str(), Some("10.1.2.3:5070"));
    assert_eq!(t["core"]["probes"].as_bool(), Some(false));
}

#[test]
fn defaults_apply_when_unset_or_empty() {
    let doc = "a = \"${A:-fallback}\"\nb = \"${B:-}\"\nc = \"${C}\"\n";
    let t = parsed(&[("A", ""), ("C", "")], doc);
    assert_eq!(t["a"].as_str(), Some("fallback"));
    assert_eq!(t["b"].as_str(), Some(""));
    assert_eq!(t["c"].as_str(), Some(""), "set but empty, no default");
    let t = parsed(&[("A", "given")], doc.replace("${C}", "x").as_str());
    assert_eq!(t["a"].as_str(), Some("given"));
}

#[test]
fn an_unset_variable_is_an_error_naming_it_and_its_line() {
    let e = with(&[], "[sip]\n# ${NOT_IN_COMMENTS}\nnode_id = ${NODE_ID}\n").unwrap_err();
    assert_eq!(
        e,
        EnvError::Unset {
            name: "NODE_ID".into(),
            line: 3
        }
    );
    let text = e.to_string();
    assert!(
        text.contains("line 3") && text.contains("NODE_ID") && text.contains("not set"),
        "{text}"
    );
}

#[test]
fn a_value_cannot_add_toml_structure_inside_a_string() {
    let evil = "x\"\n[admin]\nlisten = \"0.0.0.0:1\"\n# \\";
    let t = parsed(&[("EVIL", evil)], "[core]\nadvertise_host = \"${EVIL}\"\n");
    assert_eq!(t.len(), 1, "no [admin] table: {t:?}");
    assert_eq!(t["core"]["advertise_host"].as_str(), Some(evil));
    // The same in a multi-line string and in a quoted key.
    let t = parsed(
        &[("EVIL", evil)],
        "k = \"\"\"${EVIL}\"\"\"\n\"${EVIL}\" = 1\n",
    );
    assert_eq!(t.len(), 2, "{t:?}");
    assert_eq!(t["k"].as_str(), Some(evil));
    assert_eq!(t[evil].as_integer(), Some(1));
    // Control characters are escaped, so the line numbers stay the file's.
    let out = with(&[("NL", "a\nb\u{7f}")], "s = \"${NL}\"\n").unwrap();
    assert_eq!(out, "s = \"a\\u000Ab\\u007F\"\n");
}

#[test]
fn outside_strings_only_one_number_or_boolean_is_taken() {
    for evil in [
        "1\n[admin]\nenabled = false",
        "1 # the rest of the line",
        "1,2",
        "[1]",
        "{a=1}",
        "\"s\"",
        "core",
        "",
        "1979-05-27",
    ] {
        let e = with(&[("N", evil)], "[sip]\nnode_id = ${N}\n").unwrap_err();
        assert!(
            matches!(&e, EnvError::NotScalar { name, line: 2, value } if name == "N" && value == evil),
            "{evil:?}: {e:?}"
        );
    }
    for fine in ["0", "+12", "1_000", "0x1f", "1.5e3", "true", "false", "inf"] {
        let t = parsed(&[("N", fine)], "v = ${N}\n");
        assert_eq!(t.len(), 1, "{fine}");
    }
}

#[test]
fn values_are_not_expanded_again() {
    let t = parsed(
        &[("A", "${B}"), ("B", "secret"), ("N", "$$")],
        "a = \"${A}\"\nn = \"${N}\"\n",
    );
    assert_eq!(t["a"].as_str(), Some("${B}"));
    assert_eq!(t["n"].as_str(), Some("$$"));
}

#[test]
fn dollars_literal_strings_and_comments_are_kept() {
    let t = parsed(
        &[("X", "no")],
        "a = \"$${X} and $$ and a$b\"\nb = '${X} $$'\nc = '''\n${X}'''\n# ${UNSET} in a comment\n\
         d = \"\"\"q\"\"\"\"\ne = \"esc \\\" ${X}\"\n",
    );
    assert_eq!(t["a"].as_str(), Some("${X} and $ and a$b"));
    assert_eq!(t["b"].as_str(), Some("${X} $$"));
    assert_eq!(t["c"].as_str(), Some("${X}"));
    assert_eq!(t["d"].as_str(), Some("q\""), "a closing run of four quotes");
    assert_eq!(t["e"].as_str(), Some("esc \" no"));
}

#[test]
fn malformed_references_are_refused_with_their_line() {
    for (doc, needle) in [
        ("a = 1\nb = \"${X\"\n", "closing"),
        ("a = \"${X\n\"", "closing"),
        ("a = \"${}\"", "variable name"),
        ("a = \"${1X}\"", "variable name"),
        ("a = \"${X-Y}\"", "variable name"),
        ("a = \"${X:-a\\\"b}\"", "quotes"),
    ] {
        let e = with(&[("X", "v")], doc).unwrap_err();
        assert!(matches!(e, EnvError::Syntax { .. }), "{doc}: {e:?}");
        assert!(e.to_string().contains(needle), "{doc}: {e}");
    }
    let e = with(&[], "a = 1\nb = \"${X\"\n").unwrap_err();
    assert!(e.to_string().starts_with("line 2:"), "{e}");
}

#[test]
fn a_file_without_dollars_is_unchanged() {
    let doc = crate::config::DEFAULT_TOML;
    assert_eq!(with(&[], doc).unwrap(), doc);
}
