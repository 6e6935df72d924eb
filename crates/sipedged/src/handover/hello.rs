//! The first two records of a hand-over: the new process's hello, and the old node's answer (a refusal, or the
//! start's secrets).
//!
//! Hello, version 2 (integers big-endian): the magic `sipedge-handover`, u8 version, u8 each of the formats read
//! (WebSocket, session, registrar, package, TLS record state, client transactions), u64 fingerprint of the pack dictionary, u32 workers, u8 mode
//! (0: standalone, 1: edge with a core over UDP, 2: edge with a core over TCP or TLS), u16 listeners + each as u16
//! length + address text.
//!
//! Answer: u8 0 + a reason (UTF-8), or u8 1 + u16 length + the flow-token secret, u32 flow-token epoch, u64 Via
//! branch salt, u64 the edge's clock in milliseconds.

use std::hash::{Hash, Hasher};

use bytes::Buf;

const MAGIC: &[u8] = b"sipedge-handover";
const VERSION: u8 = 2;

/// What a process runs, as a hand-over compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The state formats it reads: WebSocket, session, registrar, package, TLS record state, client
    /// transactions toward a UDP core.
    pub formats: [u8; 6],
    /// A fingerprint of the dictionary permessage-deflate windows are packed against.
    pub dictionary: u64,
    /// Its workers.
    pub workers: u32,
    /// Standalone, or in front of a SIP core (edge mode) over UDP or over streams.
    pub mode: Mode,
    /// Its listeners, as configured.
    pub listeners: Vec<String>,
}

impl Hello {
    /// What this build runs, with the configuration's `workers`, mode and `listeners`.
    pub fn this_build(workers: usize, mode: Mode, listeners: Vec<String>) -> Self {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        crate::worker::PACK_DICTIONARY.hash(&mut h);
        Self {
            formats: [
                wsproto::STATE_VERSION,
                crate::session::SESSION_STATE_VERSION,
                edge::registrar::REGISTRAR_STATE_VERSION,
                ringmux::handover::PACKAGE_VERSION,
                ringmux::TLS_STATE_VERSION,
                crate::worker::TRANSACTIONS_STATE_VERSION,
            ],
            dictionary: h.finish(),
            workers: u32::try_from(workers).unwrap_or(u32::MAX),
            mode,
            listeners,
        }
    }

    /// Why a process saying `theirs` cannot take over from one saying `self`, if it cannot. Every state
    /// format must be the same, except the package's: a process reads the packages of earlier releases.
    pub fn mismatch(&self, theirs: &Hello) -> Option<String> {
        let [ws, session, registrar, package, tls, transactions] = self.formats;
        let [ws2, session2, registrar2, package2, tls2, transactions2] = theirs.formats;
        let same = (ws, session, registrar, tls, transactions)
            == (ws2, session2, registrar2, tls2, transactions2);
        if !same || package > package2 || self.dictionary != theirs.dictionary {
            return Some(format!(
                "state formats {:?} here, {:?} in the new process (drain instead)",
                self.formats, theirs.formats
            ));
        }
        if self.mode != theirs.mode {
            return Some(format!(
                "{} here, {} in the new process",
                self.mode, theirs.mode
            ));
        }
        if self.mode == Mode::EdgeStreams {
            return Some(
                "a hand-over in edge mode with a core over TCP or TLS is not supported yet (drain instead)"
                    .into(),
            );
        }
        if self.workers != theirs.workers {
            return Some(format!(
                "{} workers here, {} in the new process",
                self.workers, theirs.workers
            ));
        }
        if self.listeners != theirs.listeners {
            return Some(format!(
                "listeners {:?} here, {:?} in the new process",
                self.listeners, theirs.listeners
            ));
        }
        None
    }

    /// The hello's record.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.push(VERSION);
        out.extend_from_slice(&self.formats);
        out.extend_from_slice(&self.dictionary.to_be_bytes());
        out.extend_from_slice(&self.workers.to_be_bytes());
        out.push(self.mode as u8);
        out.extend_from_slice(&(self.listeners.len() as u16).to_be_bytes());
        for l in &self.listeners {
            out.extend_from_slice(&(l.len() as u16).to_be_bytes());
            out.extend_from_slice(l.as_bytes());
        }
        out
    }

    /// A hello from its record.
    pub fn decode(bytes: &[u8]) -> Result<Self, &'static str> {
        let mut r = bytes.strip_prefix(MAGIC).ok_or("not a sipedge hand-over")?;
        if r.try_get_u8().map_err(cut)? != VERSION {
            return Err("another hand-over version");
        }
        let mut formats = [0; 6];
        r.try_copy_to_slice(&mut formats).map_err(cut)?;
        let dictionary = r.try_get_u64().map_err(cut)?;
        let workers = r.try_get_u32().map_err(cut)?;
        let mode = match r.try_get_u8().map_err(cut)? {
            0 => Mode::Standalone,
            1 => Mode::EdgeUdp,
            2 => Mode::EdgeStreams,
            _ => return Err("mode"),
        };
        let mut listeners = Vec::new();
        for _ in 0..r.try_get_u16().map_err(cut)? {
            let len = usize::from(r.try_get_u16().map_err(cut)?);
            let text = take(&mut r, len)?;
            listeners.push(String::from_utf8(text.to_vec()).map_err(|_| "listener")?);
        }
        if !r.is_empty() {
            return Err("bytes after the hello");
        }
        Ok(Self {
            formats,
            dictionary,
            workers,
            mode,
            listeners,
        })
    }
}

/// What a node runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Without a core: the embedded registrar.
    Standalone = 0,
    /// In front of a core reached over UDP: the workers' sockets toward it move with the hand-over.
    EdgeUdp = 1,
    /// In front of a core reached over TCP or TLS (or a name whose records may choose them).
    EdgeStreams = 2,
}

impl Mode {
    /// The mode of a node with `core` (`None`: standalone). A core counts as reached over UDP when every URI
    /// says so, or names an IP address with no transport and no `sips:` (no NAPTR lookup can choose another).
    pub fn of(core: Option<&crate::config::CorePlan>) -> Self {
        use crate::config::{CoreTransport, Host};
        let Some(core) = core else {
            return Self::Standalone;
        };
        let udp = core.uris.iter().all(|u| match u.transport {
            Some(t) => t == CoreTransport::Udp,
            None => !u.secure && matches!(u.host, Host::Ip(_)),
        });
        if udp && core.tls.is_none() {
            Self::EdgeUdp
        } else {
            Self::EdgeStreams
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Standalone => "standalone",
            Self::EdgeUdp => "edge mode over UDP",
            Self::EdgeStreams => "edge mode over TCP or TLS",
        })
    }
}

/// What the old node gives the new process: what tokens and branches are made with, and its clock.
#[derive(Clone, PartialEq, Eq)]
pub struct Secrets {
    /// The flow-token HMAC secret.
    pub secret: Vec<u8>,
    /// The flow-token epoch of the old node's start.
    pub epoch: u32,
    /// The salt of the edge's Via branches.
    pub branch_salt: u64,
    /// The edge's clock (milliseconds since the old node's start): the new one goes on from it.
    pub clock_ms: u64,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("epoch", &self.epoch)
            .field("clock_ms", &self.clock_ms)
            .finish_non_exhaustive()
    }
}

/// Why an answer carries no secrets.
#[derive(Debug)]
pub enum Answer {
    /// The old node refused, for this reason.
    Refused(String),
    /// The record is not an answer.
    Malformed(&'static str),
}

impl Secrets {
    /// The answer's record.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![1];
        out.extend_from_slice(&(self.secret.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.secret);
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.branch_salt.to_be_bytes());
        out.extend_from_slice(&self.clock_ms.to_be_bytes());
        out
    }

    /// Secrets from an answer's record.
    pub fn decode(bytes: &[u8]) -> Result<Self, Answer> {
        let malformed = |e: &'static str| Answer::Malformed(e);
        match bytes.split_first() {
            Some((0, why)) => Err(Answer::Refused(String::from_utf8_lossy(why).into_owned())),
            Some((1, mut r)) => {
                let len = usize::from(r.try_get_u16().map_err(cut).map_err(malformed)?);
                let secret = take(&mut r, len).map_err(malformed)?.to_vec();
                let epoch = r.try_get_u32().map_err(cut).map_err(malformed)?;
                let branch_salt = r.try_get_u64().map_err(cut).map_err(malformed)?;
                let clock_ms = r.try_get_u64().map_err(cut).map_err(malformed)?;
                if !r.is_empty() {
                    return Err(malformed("bytes after the answer"));
                }
                Ok(Self {
                    secret,
                    epoch,
                    branch_salt,
                    clock_ms,
                })
            }
            _ => Err(malformed("not an answer")),
        }
    }
}

/// A refusal's record.
pub fn refusal(why: &str) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(why.as_bytes());
    out
}

fn cut(_: bytes::TryGetError) -> &'static str {
    "cut short"
}

fn take<'a>(r: &mut &'a [u8], n: usize) -> Result<&'a [u8], &'static str> {
    let (got, rest) = r.split_at_checked(n).ok_or("cut short")?;
    *r = rest;
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> Hello {
        Hello::this_build(
            2,
            Mode::Standalone,
            vec!["127.0.0.1:8080".into(), "[::1]:8443".into()],
        )
    }

    #[test]
    fn a_hello_and_an_answer_read_back() {
        assert_eq!(Hello::decode(&hello().encode()), Ok(hello()));
        let s = Secrets {
            secret: vec![7; 32],
            epoch: 9,
            branch_salt: 11,
            clock_ms: 123_456,
        };
        assert!(Secrets::decode(&s.encode()).is_ok_and(|d| d == s));
        assert!(matches!(Secrets::decode(&refusal("no")), Err(Answer::Refused(w)) if w == "no"));
        for n in 0..hello().encode().len() {
            assert!(Hello::decode(&hello().encode()[..n]).is_err());
        }
    }

    #[test]
    fn another_worker_count_listener_or_mode_is_refused() {
        let own = hello();
        assert_eq!(own.mismatch(&hello()), None);
        let more = Hello {
            workers: 3,
            ..hello()
        };
        assert!(own.mismatch(&more).unwrap().contains("2 workers here, 3"));
        let moved = Hello {
            listeners: vec!["127.0.0.1:9090".into()],
            ..hello()
        };
        assert!(own.mismatch(&moved).unwrap().contains("listeners"));
        let edge = Hello {
            mode: Mode::EdgeUdp,
            ..hello()
        };
        assert!(
            own.mismatch(&edge)
                .unwrap()
                .contains("standalone here, edge mode")
        );
        let udp = Hello {
            mode: Mode::EdgeUdp,
            ..hello()
        };
        assert_eq!(
            udp.mismatch(&edge),
            None,
            "edge mode over UDP is handed over"
        );
        let streams = Hello {
            mode: Mode::EdgeStreams,
            ..hello()
        };
        assert!(streams.mismatch(&streams).unwrap().contains("TCP or TLS"));
        let [ws, session, registrar, package, tls, transactions] = own.formats;
        let older = Hello {
            formats: [ws, session, registrar, package - 1, tls, transactions],
            ..hello()
        };
        assert!(own.mismatch(&older).unwrap().contains("state formats"));
        let other_tls = Hello {
            formats: [ws, session, registrar, package, tls + 1, transactions],
            ..hello()
        };
        assert!(own.mismatch(&other_tls).unwrap().contains("state formats"));
        // A newer release reads this one's package.
        let newer = Hello {
            formats: [ws, session, registrar, package + 1, tls, transactions],
            ..hello()
        };
        assert_eq!(own.mismatch(&newer), None);
    }
}
