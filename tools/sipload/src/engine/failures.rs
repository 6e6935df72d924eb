//! Failed transactions by the moment they began and by error. The timeline counts a failure in the
//! second it is noticed (a time-out: `--tx-timeout` after the request left), which cannot tell which
//! requests an event at a known moment (a server killed, a route switched) made fail; this list can:
//! each entry is the number of transactions of one kind that began in one tenth of a second (unix time)
//! and failed with one error. It is in `--json` as `failures`, sorted by that moment.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Key of the per-process map: (unix time in tenths of a second when the transactions began, kind,
/// error label).
pub(crate) type FailureKey = (u64, &'static str, String);

/// Transactions of one kind that began in the same tenth of a second and failed with the same error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureBegan {
    /// When they began: unix time in milliseconds, rounded down to a tenth of a second.
    pub began_ms: u64,
    /// Transaction kind.
    pub kind: String,
    /// Why they failed (`LoadError::label`: a time-out, an error answer's status, a broken connection).
    pub error: String,
    /// How many.
    pub count: u64,
}

/// One process's map as a list, sorted by moment, kind and error.
pub(crate) fn from_map(map: &BTreeMap<FailureKey, u64>) -> Vec<FailureBegan> {
    map.iter()
        .map(|((tenth, kind, error), &count)| FailureBegan {
            began_ms: tenth.saturating_mul(100),
            kind: (*kind).to_owned(),
            error: error.clone(),
            count,
        })
        .collect()
}

/// The lists of several processes summed into one, sorted by moment, kind and error.
pub(crate) fn merge<'a>(parts: impl IntoIterator<Item = &'a [FailureBegan]>) -> Vec<FailureBegan> {
    let mut sums: BTreeMap<(u64, &str, &str), u64> = BTreeMap::new();
    for part in parts {
        for f in part {
            *sums
                .entry((f.began_ms, f.kind.as_str(), f.error.as_str()))
                .or_default() += f.count;
        }
    }
    sums.into_iter()
        .map(|((began_ms, kind, error), count)| FailureBegan {
            began_ms,
            kind: kind.to_owned(),
            error: error.to_owned(),
            count,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(began_ms: u64, kind: &str, error: &str, count: u64) -> FailureBegan {
        FailureBegan {
            began_ms,
            kind: kind.to_owned(),
            error: error.to_owned(),
            count,
        }
    }

    #[test]
    fn a_map_becomes_a_list_in_milliseconds() {
        let map: BTreeMap<FailureKey, u64> = [
            ((17_000_000_003, "MESSAGE", "timeout".to_owned()), 2),
            ((17_000_000_001, "REGISTER", "status 503".to_owned()), 1),
        ]
        .into();
        assert_eq!(
            from_map(&map),
            vec![
                f(1_700_000_000_100, "REGISTER", "status 503", 1),
                f(1_700_000_000_300, "MESSAGE", "timeout", 2),
            ]
        );
    }

    #[test]
    fn processes_are_summed_per_moment_kind_and_error_and_sorted() {
        let a = vec![
            f(200, "MESSAGE", "timeout", 2),
            f(100, "MESSAGE", "timeout", 1),
        ];
        let b = vec![
            f(200, "MESSAGE", "timeout", 3),
            f(200, "MESSAGE", "status 408", 1),
            f(100, "REGISTER", "timeout", 4),
        ];
        assert_eq!(
            merge([a.as_slice(), b.as_slice()]),
            vec![
                f(100, "MESSAGE", "timeout", 1),
                f(100, "REGISTER", "timeout", 4),
                f(200, "MESSAGE", "status 408", 1),
                f(200, "MESSAGE", "timeout", 5),
            ]
        );
    }
}
