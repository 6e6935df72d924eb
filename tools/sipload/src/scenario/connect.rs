//! The `connect` scenario: connections only. Each one opens its WebSocket, stays open (answering the
//! server's pings) through the hold and the traffic phase, and closes; nothing else is sent. With a
//! high --ramp from one source address it is a connection flood, and the report counts the refusals
//! by reason.

use std::time::Instant;

use crate::cli::ConnectCmd;
use crate::engine::{Go, Plan, Recorder, Scenario};
use crate::error::LoadError;
use crate::ws::WsClient;

/// Open and hold.
#[derive(Debug, Clone)]
pub struct Connect {
    subprotocols: &'static [&'static str],
}

impl Connect {
    /// From the flags.
    pub fn new(cmd: &ConnectCmd) -> Self {
        Self {
            subprotocols: if cmd.no_subprotocol { &[] } else { &["sip"] },
        }
    }
}

impl Connect {
    /// Answers pings until `until` resolves.
    async fn idle<T>(
        ws: &mut WsClient,
        until: impl std::future::Future<Output = T>,
    ) -> Result<T, LoadError> {
        tokio::pin!(until);
        loop {
            tokio::select! {
                m = ws.next_message() => {
                    // Data from the server is not expected; pings are answered.
                    let _ = m?;
                    if ws.replies_due() {
                        ws.flush_replies().await?;
                    }
                }
                out = &mut until => return Ok(out),
            }
        }
    }
}

impl Scenario for Connect {
    type Session = WsClient;

    fn name(&self) -> &'static str {
        "connect"
    }

    fn subprotocols(&self) -> &'static [&'static str] {
        self.subprotocols
    }

    async fn setup(
        &self,
        ws: WsClient,
        _index: u64,
        _rec: &Recorder,
    ) -> Result<WsClient, LoadError> {
        Ok(ws)
    }

    async fn hold(
        &self,
        ws: &mut WsClient,
        go: &mut Go,
        _rec: &Recorder,
    ) -> Result<Option<Instant>, LoadError> {
        Self::idle(ws, go.wait()).await
    }

    async fn traffic(
        &self,
        ws: &mut WsClient,
        plan: &Plan,
        _rec: &Recorder,
    ) -> Result<(), LoadError> {
        if !plan.once {
            Self::idle(ws, tokio::time::sleep_until(plan.end.into())).await?;
        }
        Ok(())
    }

    async fn close(&self, mut ws: WsClient) {
        ws.close().await;
    }
}
