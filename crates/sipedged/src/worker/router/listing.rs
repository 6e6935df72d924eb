//! What the router tells the admin API about its connections: one open WebSocket described for a listing
//! (with the AoRs an edge in front of a core saw it register: the core keeps the bindings, so the edge notes the
//! To of each REGISTER a connection sends, a few per connection), and the bindings of the registrar shard.

use std::time::Instant;

use edge::flow_token::FlowId;
use ringmux::{Conn, Ctx};

use super::Router;
use crate::session::Session;
use crate::worker::Msg;
use crate::worker::operate::{BindingInfo, ConnectionInfo, Filter};

/// AoRs noted per connection in edge mode (a browser registers one, or a few).
const MAX_NOTED_AORS: usize = 4;

/// The AoRs one connection registered (edge mode), by slot.
#[derive(Debug, Default)]
pub(super) struct Registered {
    by_slot: std::collections::HashMap<u32, (u32, Vec<String>)>,
}

impl Registered {
    fn of(&self, conn: Conn) -> &[String] {
        match self.by_slot.get(&conn.slot) {
            Some((generation, aors)) if *generation == conn.generation => aors,
            _ => &[],
        }
    }
}

impl Router {
    /// Edge mode: note the AoR a REGISTER from `conn` is for.
    pub(super) fn note_register(&mut self, conn: Conn, message: &[u8]) {
        if self.shared.core.is_none() || !message.starts_with(b"REGISTER ") {
            return;
        }
        let Some(aor) = edge::registrar::aor_of_register(message) else {
            return;
        };
        let entry = self
            .registered
            .by_slot
            .entry(conn.slot)
            .or_insert_with(|| (conn.generation, Vec::new()));
        if entry.0 != conn.generation {
            *entry = (conn.generation, Vec::new());
        }
        if !entry.1.contains(&aor) && entry.1.len() < MAX_NOTED_AORS {
            entry.1.push(aor);
        }
    }

    /// A connection closed: forget what it registered.
    pub(super) fn forget_registered(&mut self, conn: Conn) {
        self.registered.by_slot.remove(&conn.slot);
    }

    /// `conn` described for a listing, if it is an open WebSocket that `filter` shows.
    pub fn describe(
        &self,
        ctx: &Ctx<'_, Msg>,
        conn: Conn,
        session: &Session,
        filter: &Filter,
    ) -> Option<ConnectionInfo> {
        let now_ms = self.shared.policy.timestamp(ctx.now()).0;
        let (identity, age_ms, idle_ms) = session.open_info(now_ms)?;
        let flow = FlowId {
            secure: ctx.is_tls(conn),
            ..self.flow_of(conn)
        };
        let identity = identity.map(|i| i.user.clone());
        let aors = self.registered.of(conn);
        if !filter.matches(identity.as_deref(), aors, &flow) {
            return None;
        }
        let (bytes_in, bytes_out) = ctx.bytes(conn).unwrap_or_default();
        Some(ConnectionInfo {
            worker: self.index,
            flow: self.shared.key.seal(&flow),
            peer: ctx.peer_addr(conn).map(|a| a.to_string()),
            listener: ctx.listener(conn).unwrap_or(0),
            tls: flow.secure,
            identity,
            aors: aors.to_vec(),
            age_seconds: f64::from(age_ms) / 1000.0,
            idle_seconds: f64::from(idle_ms) / 1000.0,
            bytes_in,
            bytes_out,
            flow_id: flow,
        })
    }

    /// The registrar shard's bindings of `aor` (or all), at most `limit`.
    pub fn bindings(&self, aor: Option<&str>, limit: usize, now: Instant) -> Vec<BindingInfo> {
        let now = self.shared.policy.timestamp(now);
        self.edge
            .registrar()
            .bindings()
            .filter(|(a, b)| aor.is_none_or(|want| *a == want) && b.expires_at > now)
            .take(limit)
            .map(|(a, b)| BindingInfo {
                aor: a.to_owned(),
                contact: b.uri().to_owned(),
                instance: b.instance().map(str::to_owned),
                expires_in: b.expires_in(now),
                flow: self.shared.key.seal(&b.flow),
                flow_id: b.flow,
            })
            .collect()
    }
}
