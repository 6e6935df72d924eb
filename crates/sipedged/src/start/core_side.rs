//! Starting the core side: the first resolution of the core's URIs (a node whose core does not resolve yet starts
//! with no target and keeps resolving), the target manager's thread, and what the workers share of it; then,
//! while serving, each new view of the targets posted to every worker.

use std::net::SocketAddr;

use super::StartError;
use crate::config::Plan;
use crate::targets::manager::{self, Handle, Settings};
use crate::targets::{CoreView, Transport};
use crate::worker::{self, CoreSide};

/// The running core side.
#[derive(Debug)]
pub struct Started {
    /// What the workers share.
    pub side: CoreSide,
    /// The manager's handle.
    pub handle: Handle,
    /// `[core.tls]`'s files, watched.
    pub reloader: Option<crate::tls::CoreReloader>,
}

/// Resolve the core and start the manager (`None`: standalone).
pub fn start(plan: &Plan, taking_over: bool) -> Result<Option<Started>, StartError> {
    let Some(c) = &plan.core else {
        return Ok(None);
    };
    let settings = Settings {
        uris: c.uris.clone(),
        name_servers: c.name_servers.clone(),
        probing: c.probing,
        local_ip: c.local_address.ip(),
        advertise_host: c.advertise_host.clone(),
        t1: c.t1,
        tls: c.tls.as_ref().map(|t| {
            (
                ringmux::TlsConnector::new(t.config.clone()),
                t.server_name.clone(),
            )
        }),
    };
    let (view, handle, tls) = manager::start(settings)?;
    if view.transport == Transport::Tls && !plan.listeners.iter().any(|l| l.tls.is_some()) {
        return Err(StartError::TlsCoreListener);
    }
    if view.transport == Transport::Udp && !taking_over {
        // Fail now, with a clear message, if a worker's port toward the core is taken (after a take-over, the
        // running node's sockets on these ports are the workers' own).
        for w in 0..plan.workers {
            let local = c.local_address;
            let addr = SocketAddr::new(local.ip(), local.port() + w as u16);
            std::net::UdpSocket::bind(addr)
                .map_err(|error| StartError::CorePort { addr, error })?;
        }
    }
    Ok(Some(Started {
        side: CoreSide {
            view,
            local: c.local_address,
            t1: c.t1,
            udp_receive_buffer: c.udp_receive_buffer,
            tls: tls.clone(),
            feedback: Some(handle.feedback.clone()),
        },
        handle,
        reloader: tls
            .zip(c.tls.as_ref().map(|t| t.table.clone()))
            .map(|((connector, _), table)| crate::tls::CoreReloader::new(connector, table)),
    }))
}

/// Post every view the manager published since the last call to every worker.
pub fn forward_views(handle: &Handle, server: &ringmux::Server<worker::Msg>) {
    let Some(latest) = handle.views.try_iter().last() else {
        return;
    };
    for w in 0..server.workers() {
        let _ = server.post(w, worker::Msg::CoreView(latest.clone()));
    }
}

/// One line saying where the core is, for the start message.
pub fn describe(view: &CoreView) -> String {
    if view.targets.is_empty() {
        return format!(
            "SIP core not resolved yet ({}, resolving again; requests get 503 until then)",
            view.transport.token()
        );
    }
    let targets: Vec<String> = view
        .targets
        .iter()
        .map(|t| t.label(view.transport))
        .collect();
    format!("SIP core at {}", targets.join(", "))
}
