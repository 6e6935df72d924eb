//! The registrar's index of the AoRs in which each flow holds bindings: what a closing connection removes, and
//! what the per-flow cap counts. Kept exact on every change (a binding added, refreshed from another flow,
//! removed, expired), so that a flow's entry holds only AoRs where it still has a binding, and goes with the last.

use std::collections::HashMap;

use super::AorKey;
use crate::flow_token::FlowId;

/// The AoRs one flow holds bindings in: nearly always one, held without a heap block of its own.
#[derive(Debug, Default)]
enum FlowAors {
    #[default]
    None,
    One(AorKey),
    Many(Vec<AorKey>),
}

impl FlowAors {
    fn insert(&mut self, aor: &AorKey) {
        match self {
            FlowAors::None => *self = FlowAors::One(aor.clone()),
            FlowAors::One(a) if a == aor => {}
            FlowAors::One(a) => *self = FlowAors::Many(vec![a.clone(), aor.clone()]),
            FlowAors::Many(v) if v.contains(aor) => {}
            FlowAors::Many(v) => v.push(aor.clone()),
        }
    }

    fn remove(&mut self, aor: &str) {
        match self {
            FlowAors::One(a) if **a == *aor => *self = FlowAors::None,
            FlowAors::Many(v) => {
                v.retain(|a| **a != *aor);
                if let [one] = v.as_slice() {
                    *self = FlowAors::One(one.clone());
                } else if v.is_empty() {
                    *self = FlowAors::None;
                }
            }
            _ => {}
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, FlowAors::None)
    }

    fn iter(&self) -> impl Iterator<Item = &AorKey> {
        let (one, many): (Option<&AorKey>, &[AorKey]) = match self {
            FlowAors::None => (None, &[]),
            FlowAors::One(a) => (Some(a), &[]),
            FlowAors::Many(v) => (None, v),
        };
        one.into_iter().chain(many)
    }
}

/// Flow (as a connection: its `outbound` flag does not count) to the AoRs it holds bindings in.
#[derive(Debug, Default)]
pub(super) struct FlowIndex {
    flows: HashMap<FlowId, FlowAors>,
}

/// The key of `flow`'s connection.
fn connection(flow: &FlowId) -> FlowId {
    FlowId {
        outbound: false,
        ..*flow
    }
}

impl FlowIndex {
    /// Record that `flow` holds a binding in `aor`.
    pub(super) fn add(&mut self, flow: &FlowId, aor: &AorKey) {
        self.flows.entry(connection(flow)).or_default().insert(aor);
    }

    /// Record that `flow` holds no binding in `aor` (any more).
    pub(super) fn remove(&mut self, flow: &FlowId, aor: &str) {
        let key = connection(flow);
        if let Some(aors) = self.flows.get_mut(&key) {
            aors.remove(aor);
            if aors.is_empty() {
                self.flows.remove(&key);
            }
        }
    }

    /// The AoRs `flow` holds bindings in.
    pub(super) fn aors(&self, flow: &FlowId) -> impl Iterator<Item = &AorKey> {
        self.flows
            .get(&connection(flow))
            .into_iter()
            .flat_map(FlowAors::iter)
    }

    /// Forget `flow`; the AoRs it held bindings in.
    pub(super) fn take(&mut self, flow: &FlowId) -> Vec<AorKey> {
        self.flows
            .remove(&connection(flow))
            .map(|a| a.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Flows holding at least one binding.
    pub(super) fn len(&self) -> usize {
        self.flows.len()
    }

    /// Every flow and the AoRs it is indexed under (for tests of the index's exactness).
    #[cfg(test)]
    pub(super) fn entries(&self) -> Vec<(FlowId, Vec<AorKey>)> {
        self.flows
            .iter()
            .map(|(f, a)| (*f, a.iter().cloned().collect()))
            .collect()
    }
}
