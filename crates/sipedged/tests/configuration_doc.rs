//! `docs/configuration.md` documents every key of `crates/sipedged/src/default.toml`, and nothing else.
//!
//! The keys come from the defaults file itself: the keys it sets (walked through every table, array of tables
//! such as `[[listen]]` and inline table) and the keys of its commented-out examples (`# [core]`,
//! `# uri = "..."`, `# tls = { ... }`). The page's convention: a `##` heading that names the section in
//! brackets (`` ## `[limits]` ``, `` ## `[[listen]]` ``), then one table row per key whose first cell is the
//! key in backticks (`` | `max_message_size` | ``); keys of an inline table are written `parent.key`.

use std::collections::BTreeSet;
use std::path::PathBuf;

/// A documented or configurable key: (section, dotted key).
type Key = (String, String);

/// How many commented lines one example may span (`tls = { ..., sni = [` + entries + `] }`).
const MAX_EXAMPLE_LINES: usize = 6;

fn repo_file(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn default_toml() -> String {
    repo_file("../../crates/sipedged/src/default.toml")
}

fn configuration_md() -> String {
    repo_file("../../docs/configuration.md")
}

/// Adds `table`'s keys under `section`, inline tables and arrays of inline tables as `prefix.key`.
fn walk_table(section: &str, prefix: &str, table: &toml::Table, out: &mut BTreeSet<Key>) {
    for (key, value) in table {
        let dotted = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        out.insert((section.to_string(), dotted.clone()));
        match value {
            toml::Value::Table(inner) => walk_table(section, &dotted, inner, out),
            toml::Value::Array(items) => {
                for item in items {
                    if let toml::Value::Table(inner) = item {
                        walk_table(section, &dotted, inner, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Every key the defaults file sets: sections are its top-level tables and arrays of tables.
fn keys_set(doc: &toml::Table) -> BTreeSet<Key> {
    let mut out = BTreeSet::new();
    for (section, value) in doc {
        match value {
            toml::Value::Table(table) => walk_table(section, "", table, &mut out),
            toml::Value::Array(items) => {
                for item in items {
                    let table = item.as_table().unwrap_or_else(|| {
                        panic!("top-level array {section} is not [[{section}]]")
                    });
                    walk_table(section, "", table, &mut out);
                }
            }
            other => panic!("top-level key {section} = {other} outside any section"),
        }
    }
    out
}

/// The section a header line names (`[core]`, `[core.tls]`, `[[listen]]`), if the line is one.
fn header(line: &str) -> Option<String> {
    let line = line.split('#').next().unwrap_or("").trim();
    let name = line.strip_prefix('[')?.strip_suffix(']')?;
    let name = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    let ident = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.');
    ident.then(|| name.to_string())
}

/// The text of a comment line (`# text` gives `text`), if the line is a comment.
fn comment_text(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix('#')?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

/// Keys of the commented-out examples: a comment line that is a section header switches the section; a
/// comment line that, alone or with the comment lines after it, parses as TOML is an example of its keys.
/// Prose never parses (its first line is not a valid TOML line), so it adds nothing.
fn keys_in_comments(text: &str) -> BTreeSet<Key> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = BTreeSet::new();
    let mut section = String::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(first) = comment_text(lines[i]) else {
            if let Some(name) = header(lines[i]) {
                section = name;
            }
            i += 1;
            continue;
        };
        if let Some(name) = header(first) {
            section = name;
            i += 1;
            continue;
        }
        let mut snippet = String::new();
        let mut used = 1;
        for (n, line) in lines[i..].iter().take(MAX_EXAMPLE_LINES).enumerate() {
            let Some(text) = comment_text(line) else {
                break;
            };
            snippet.push_str(text);
            snippet.push('\n');
            if let Ok(table) = snippet.parse::<toml::Table>()
                && !table.is_empty()
            {
                assert!(
                    !section.is_empty(),
                    "example {snippet:?} outside any section"
                );
                walk_table(&section, "", &table, &mut out);
                used = n + 1;
                break;
            }
        }
        i += used;
    }
    out
}

/// The (section, key) rows of the page, by its convention.
fn documented(md: &str) -> BTreeSet<Key> {
    let mut out = BTreeSet::new();
    let mut section: Option<String> = None;
    for line in md.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            section = title.split('`').find_map(header);
            continue;
        }
        let (Some(section), Some(row)) = (&section, line.strip_prefix("| `")) else {
            continue;
        };
        if let Some((key, _)) = row.split_once('`') {
            out.insert((section.clone(), key.to_string()));
        }
    }
    out
}

fn all_keys() -> BTreeSet<Key> {
    let text = default_toml();
    let doc: toml::Table = text.parse().expect("default.toml parses");
    let mut keys = keys_set(&doc);
    keys.extend(keys_in_comments(&text));
    keys
}

fn show(keys: &[&Key]) -> String {
    keys.iter()
        .map(|(s, k)| format!("  [{s}] {k}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_default_toml_key_is_documented() {
    let keys = all_keys();
    let documented = documented(&configuration_md());
    let missing: Vec<&Key> = keys.iter().filter(|k| !documented.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md lacks a row for these keys of default.toml (a `| `key` |` row under the \
         `## `[section]`` heading):\n{}",
        show(&missing)
    );
}

#[test]
fn every_documented_key_exists_in_default_toml() {
    let keys = all_keys();
    let documented = documented(&configuration_md());
    let stale: Vec<&Key> = documented.iter().filter(|k| !keys.contains(*k)).collect();
    assert!(
        stale.is_empty(),
        "docs/configuration.md documents keys default.toml does not have (renamed or removed?):\n{}",
        show(&stale)
    );
}

#[test]
fn the_walk_sees_arrays_of_tables_inline_tables_and_commented_examples() {
    let keys = all_keys();
    for (section, key) in [
        ("listen", "address"),
        ("listen", "advertise"),
        ("listen", "tls.cert"),
        ("listen", "tls.sni.name"),
        ("core", "uri"),
        ("core", "local_address"),
        ("limits", "trusted_proxies"),
        ("auth", "on_expiry"),
    ] {
        assert!(
            keys.contains(&(section.to_string(), key.to_string())),
            "[{section}] {key} not found; found: {keys:?}"
        );
    }
    assert!(
        !keys.iter().any(|(_, k)| k.contains(' ')),
        "prose read as a key: {keys:?}"
    );
}

#[test]
fn the_page_convention_is_read_as_described() {
    let md = "## `[[listen]]`\n| key | type |\n| --- | --- |\n| `address` | address |\n\
              | `tls.cert` | path |\n## Command line\n| `--config` | file |\n## `[core]`\n| `uri` | URI |\n";
    let got = documented(md);
    let want: BTreeSet<Key> = [
        ("listen", "address"),
        ("listen", "tls.cert"),
        ("core", "uri"),
    ]
    .into_iter()
    .map(|(s, k)| (s.to_string(), k.to_string()))
    .collect();
    assert_eq!(got, want);
    let missing = documented("## `[core]`\n| `local_address` | address |\n");
    assert!(!missing.contains(&("core".to_string(), "uri".to_string())));
}
