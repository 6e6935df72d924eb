//! `/status.json`: the samples of the Prometheus text exposition (what `/metrics` serves), regrouped as JSON for
//! the operator page. Built from the rendered text so that both always show the same figures.
//!
//! Shape: `{"version":"0.1.0","workers":2,"draining":false,"metrics":{"sipedge_registrations":{"0":3,"1":1},
//! "sipedge_connections":{"0":{"websocket":2,"handshake":0},...},"sipedge_flow_token_rejections_total":0, ...}}` —
//! each label of a sample, in order, is one level of objects keyed by the label's value; a sample without labels
//! is the number itself.

use std::fmt::Write as _;

/// One sample line of the text format: `name{label="value",...} 12`.
#[derive(Debug, PartialEq)]
struct Sample<'a> {
    name: &'a str,
    labels: Vec<&'a str>,
    value: &'a str,
}

fn sample(line: &str) -> Option<Sample<'_>> {
    if line.starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    value.parse::<f64>().ok()?;
    let Some((name, mut rest)) = series.split_once('{') else {
        return Some(Sample {
            name: series,
            labels: Vec::new(),
            value,
        });
    };
    let mut labels = Vec::new();
    loop {
        let (_, quoted) = rest.split_once("=\"")?;
        let (label, after) = quoted.split_once('"')?;
        labels.push(label);
        match after.strip_prefix(',') {
            Some(more) => rest = more,
            None if after == "}" => break,
            None => return None,
        }
    }
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// Samples grouped by name, then by each label value in turn; insertion order is kept.
#[derive(Debug)]
enum Node<'a> {
    Value(&'a str),
    Map(Vec<(&'a str, Node<'a>)>),
}

impl<'a> Node<'a> {
    fn insert(&mut self, path: &[&'a str], value: &'a str) {
        let Node::Map(children) = self else {
            return;
        };
        let Some((key, rest)) = path.split_first() else {
            return;
        };
        let i = match children.iter().position(|(k, _)| k == key) {
            Some(i) => i,
            None => {
                let child = if rest.is_empty() {
                    Node::Value(value)
                } else {
                    Node::Map(Vec::new())
                };
                children.push((key, child));
                children.len() - 1
            }
        };
        if let Some((_, child)) = children.get_mut(i) {
            child.insert(rest, value);
        }
    }

    fn write(&self, out: &mut String) {
        match self {
            Node::Value(v) => out.push_str(v),
            Node::Map(children) => {
                out.push('{');
                for (i, (key, child)) in children.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    string(out, key);
                    out.push(':');
                    child.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The JSON document for `version`, `workers` and the Prometheus `text`.
pub fn json(version: &str, workers: usize, text: &str, draining: bool) -> String {
    let mut metrics = Node::Map(Vec::new());
    for s in text.lines().filter_map(sample) {
        let mut path = Vec::with_capacity(1 + s.labels.len());
        path.push(s.name);
        path.extend(s.labels);
        metrics.insert(&path, s.value);
    }
    let mut out = String::with_capacity(text.len());
    out.push_str("{\"version\":");
    string(&mut out, version);
    let _ = write!(
        out,
        ",\"workers\":{workers},\"draining\":{draining},\"metrics\":"
    );
    metrics.write(&mut out);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_from_the_text_format() {
        assert_eq!(
            sample("sipedge_connections{worker=\"1\",state=\"websocket\"} 4"),
            Some(Sample {
                name: "sipedge_connections",
                labels: vec!["1", "websocket"],
                value: "4"
            })
        );
        assert_eq!(
            sample("sipedge_flow_token_rejections_total 0"),
            Some(Sample {
                name: "sipedge_flow_token_rejections_total",
                labels: vec![],
                value: "0"
            })
        );
        assert_eq!(sample("# TYPE sipedge_connections gauge"), None);
        assert_eq!(sample("broken{worker=\"1\" 4"), None);
        assert_eq!(sample("broken{worker=\"1\"x} 4"), None);
        assert_eq!(sample("x{a=\"1\"} notanumber"), None);
    }

    #[test]
    fn each_label_is_one_level_and_plain_metrics_are_numbers() {
        let text = "# HELP a A\n# TYPE a gauge\na{worker=\"0\",state=\"ws\"} 1\na{worker=\"0\",state=\"hs\"} 3\n\
                    a{worker=\"1\",state=\"ws\"} 2\nb{reason=\"origin\"} 5\nc 7\nd{method=\"INVITE\"} 0\n";
        assert_eq!(
            json("1.2.3", 2, text, false),
            r#"{"version":"1.2.3","workers":2,"draining":false,"metrics":{"a":{"0":{"ws":1,"hs":3},"1":{"ws":2}},"b":{"origin":5},"c":7,"d":{"INVITE":0}}}"#
        );
    }

    #[test]
    fn empty_text_is_still_a_document() {
        assert_eq!(
            json("v\"1", 0, "", true),
            r#"{"version":"v\"1","workers":0,"draining":true,"metrics":{}}"#
        );
    }
}
