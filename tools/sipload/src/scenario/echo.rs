//! WebSocket echo: send a message, wait for the same bytes back, record the round trip.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use wsproto::MessageKind;

use crate::cli::EchoArgs;
use crate::engine::{EXCHANGE_TIMEOUT, Plan, Recorder, Scenario};
use crate::error::LoadError;
use crate::sip::build;
use crate::ws::WsClient;

/// `--sip`: the INVITE a JsSIP-like client sends to set up a call, WebRTC offer included (the same bytes
/// on every run).
fn sip_payload() -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(22);
    let id = build::Identity::new(0, 2, "example.test", &mut rng);
    let (branch, call_id, tag) = (
        build::branch(&mut rng),
        build::token(&mut rng, 22),
        build::token(&mut rng, 10),
    );
    build::invite(&id, &branch, &call_id, &tag, 1)
        .0
        .into_bytes()
}

/// How messages are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// This many messages outstanding per connection; the next leaves as soon as an echo arrived.
    FlatOut(usize),
    /// This many messages per second for the whole run.
    Rate(f64),
}

/// The echo scenario.
#[derive(Debug, Clone)]
pub struct Echo {
    payload: Vec<u8>,
    kind: MessageKind,
    pace: Pace,
}

impl Echo {
    /// From the flags (flat out unless --rate is given).
    pub fn new(args: &EchoArgs) -> Self {
        let payload = if args.sip {
            sip_payload()
        } else {
            (0..args.size as usize)
                .map(|i| b'!' + (i % 94) as u8)
                .collect()
        };
        Self {
            payload,
            kind: if args.binary {
                MessageKind::Binary
            } else {
                MessageKind::Text
            },
            pace: match args.rate {
                Some(r) => Pace::Rate(r.0),
                None => Pace::FlatOut(args.window.max(1) as usize),
            },
        }
    }

    /// One exchange: send, wait for the echo, compare.
    async fn exchange(&self, ws: &mut WsClient, rec: &Recorder) -> Result<(), LoadError> {
        let r = self.try_exchange(ws, rec).await;
        if let Err(e) = &r {
            rec.tx_failed("echo", e);
        }
        r
    }

    async fn try_exchange(&self, ws: &mut WsClient, rec: &Recorder) -> Result<(), LoadError> {
        let t0 = Instant::now();
        let sent = &self.payload;
        let kind = self.kind;
        let same = tokio::time::timeout(EXCHANGE_TIMEOUT, async {
            ws.send(kind, sent).await?;
            ws.recv(|k, p| k == kind && p == sent.as_slice()).await
        })
        .await
        .map_err(|_| LoadError::Timeout("waiting for the echo"))??;
        if !same {
            return Err(LoadError::EchoMismatch);
        }
        rec.tx_ok("echo", t0.elapsed());
        Ok(())
    }
}

impl Scenario for Echo {
    type Session = WsClient;

    fn name(&self) -> &'static str {
        "echo"
    }

    fn read_buffer(&self) -> usize {
        (self.payload.len() + 14).clamp(4096, 64 * 1024)
    }

    async fn setup(&self, ws: WsClient, _: u64, _: &Recorder) -> Result<WsClient, LoadError> {
        Ok(ws)
    }

    async fn close(&self, mut ws: WsClient) {
        ws.close().await;
    }

    async fn traffic(
        &self,
        ws: &mut WsClient,
        plan: &Plan,
        rec: &Recorder,
    ) -> Result<(), LoadError> {
        // A failed exchange is counted (as an `echo` failure) where it happens and ends this
        // connection's traffic; it is not a second, session-level failure.
        let _ = self.exchanges(ws, plan, rec).await;
        Ok(())
    }
}

impl Echo {
    async fn exchanges(
        &self,
        ws: &mut WsClient,
        plan: &Plan,
        rec: &Recorder,
    ) -> Result<(), LoadError> {
        if plan.once {
            return self.exchange(ws, rec).await;
        }
        match self.pace {
            Pace::FlatOut(window) => {
                let r = self.pipelined(ws, plan.end, window, rec).await;
                if let Err(e) = &r {
                    rec.tx_failed("echo", e);
                }
                return r;
            }
            Pace::Rate(rate) => {
                // Each connection sends every connections/rate seconds, phase-shifted by its index so
                // the sends spread evenly over the period.
                let period = Duration::from_secs_f64(plan.connections as f64 / rate);
                let offset = period.mul_f64(
                    (plan.index % plan.connections.max(1)) as f64 / plan.connections.max(1) as f64,
                );
                let mut next = tokio::time::Instant::now() + offset;
                let end = tokio::time::Instant::from_std(plan.end);
                while next < end {
                    tokio::time::sleep_until(next).await;
                    self.exchange(ws, rec).await?;
                    next += period;
                }
            }
        }
        Ok(())
    }

    /// `window` messages in flight until `end`, then the outstanding echoes; each round trip is
    /// timed from its own send. Echoes come back in order, each compared with what was sent.
    async fn pipelined(
        &self,
        ws: &mut WsClient,
        end: Instant,
        window: usize,
        rec: &Recorder,
    ) -> Result<(), LoadError> {
        let (sent, kind) = (&self.payload, self.kind);
        let mut in_flight: VecDeque<Instant> = VecDeque::with_capacity(window);
        loop {
            while in_flight.len() < window && Instant::now() < end {
                in_flight.push_back(Instant::now());
                ws.send(kind, sent).await?;
            }
            let Some(t0) = in_flight.pop_front() else {
                return Ok(());
            };
            let same =
                tokio::time::timeout(EXCHANGE_TIMEOUT, ws.recv(|k, p| k == kind && p == sent))
                    .await
                    .map_err(|_| LoadError::Timeout("waiting for the echo"))??;
            if !same {
                return Err(LoadError::EchoMismatch);
            }
            rec.tx_ok("echo", t0.elapsed());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_printable_text_of_the_asked_size() {
        let e = Echo::new(&EchoArgs {
            size: 1024,
            binary: false,
            sip: false,
            rate: None,
            flat_out: true,
            window: 1,
        });
        assert_eq!(e.payload.len(), 1024);
        assert!(std::str::from_utf8(&e.payload).is_ok());
        assert!(e.payload.iter().all(|b| (b'!'..=b'~').contains(b)));
        assert_eq!(e.pace, Pace::FlatOut(1));
        assert_eq!(e.read_buffer(), 4096);
    }

    #[test]
    fn sip_payload_is_a_jssip_like_invite_with_its_offer() {
        let e = Echo::new(&EchoArgs {
            size: 1024,
            binary: false,
            sip: true,
            rate: None,
            flat_out: true,
            window: 1,
        });
        let text = std::str::from_utf8(&e.payload).unwrap();
        assert!(
            text.starts_with("INVITE sip:sl1@example.test SIP/2.0\r\n"),
            "{text}"
        );
        assert!(
            text.contains("a=fingerprint:") || text.contains("m=audio"),
            "{text}"
        );
        assert!(e.payload.len() > 2000, "{}", e.payload.len());
        assert_eq!(e.payload, sip_payload(), "the same bytes every run");
    }
}
