//! The client transactions toward a UDP core as a hand-over carries them to a new process: what waits for the
//! core's answer goes on being retransmitted (and given up) there, and what completed goes on absorbing the
//! core's final responses sent again. Times are on the edge's clock, which the new process continues.
//!
//! Format version 1 (integers big-endian, times in microseconds):
//! ```text
//! u8 1, u32 pending, each: u16 length + branch, u32 length + request, target (u8 4 + 4 bytes or u8 6 + 16
//!     bytes, u16 port), u8 flags (1: INVITE, 2: proceeding), u64 interval, u64 give-up time, u64 next time;
//! u32 completed, each: u16 length + branch, u64 end of Timer K
//! ```

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Buf;

use super::{MAX_PENDING, Pending, Transactions};

/// The version [`Transactions::export_state`] writes.
pub const TRANSACTIONS_STATE_VERSION: u8 = 1;
/// The longest request or branch a state may carry (a SIP message over UDP is far smaller).
const MAX_REQUEST: usize = 1 << 16;

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Transactions {
    /// Writes the table (see the module).
    pub fn export_state(&self, out: &mut Vec<u8>) {
        out.push(TRANSACTIONS_STATE_VERSION);
        out.extend_from_slice(&(self.pending.len() as u32).to_be_bytes());
        for (branch, p) in &self.pending {
            out.extend_from_slice(&(branch.len() as u16).to_be_bytes());
            out.extend_from_slice(branch);
            out.extend_from_slice(&(p.request.len() as u32).to_be_bytes());
            out.extend_from_slice(&p.request);
            match p.target.ip() {
                IpAddr::V4(ip) => {
                    out.push(4);
                    out.extend_from_slice(&ip.octets());
                }
                IpAddr::V6(ip) => {
                    out.push(6);
                    out.extend_from_slice(&ip.octets());
                }
            }
            out.extend_from_slice(&p.target.port().to_be_bytes());
            out.push(u8::from(p.invite) | u8::from(p.proceeding) << 1);
            for t in [p.interval, p.give_up_at, p.next.0] {
                out.extend_from_slice(&micros(t).to_be_bytes());
            }
        }
        out.extend_from_slice(&(self.completed_order.len() as u32).to_be_bytes());
        for (until, branch) in &self.completed_order {
            out.extend_from_slice(&(branch.len() as u16).to_be_bytes());
            out.extend_from_slice(branch);
            out.extend_from_slice(&micros(*until).to_be_bytes());
        }
    }

    /// Takes on the transactions another process's table wrote, beside its own (at most [`MAX_PENDING`] of
    /// each kind); nothing is taken from bytes that do not read whole.
    pub fn import_state(&mut self, bytes: &[u8]) -> Result<(), &'static str> {
        let mut r = bytes;
        let cut = |_| "cut short";
        if r.try_get_u8().map_err(cut)? != TRANSACTIONS_STATE_VERSION {
            return Err("another format version");
        }
        let mut pending = Vec::new();
        for _ in 0..r.try_get_u32().map_err(cut)? {
            let len = usize::from(r.try_get_u16().map_err(cut)?);
            let branch = take(&mut r, len)?;
            let len = r.try_get_u32().map_err(cut)? as usize;
            let request = take(&mut r, len)?;
            let ip = match r.try_get_u8().map_err(cut)? {
                4 => IpAddr::from(r.try_get_u32().map_err(cut)?.to_be_bytes()),
                6 => IpAddr::from(r.try_get_u128().map_err(cut)?.to_be_bytes()),
                _ => return Err("target address"),
            };
            let target = SocketAddr::new(ip, r.try_get_u16().map_err(cut)?);
            let flags = r.try_get_u8().map_err(cut)?;
            let mut time = || r.try_get_u64().map(Duration::from_micros).map_err(cut);
            let (interval, give_up_at, next) = (time()?, time()?, time()?);
            if flags > 3 || branch.is_empty() || interval.is_zero() {
                return Err("transaction");
            }
            pending.push((branch, request, target, flags, interval, give_up_at, next));
        }
        let mut completed = Vec::new();
        for _ in 0..r.try_get_u32().map_err(cut)? {
            let len = usize::from(r.try_get_u16().map_err(cut)?);
            let branch = take(&mut r, len)?;
            let until = Duration::from_micros(r.try_get_u64().map_err(cut)?);
            completed.push((until, branch));
        }
        if !r.is_empty() {
            return Err("bytes after the state");
        }
        for (branch, request, target, flags, interval, give_up_at, next) in pending {
            if self.pending.len() >= MAX_PENDING || self.pending.contains_key(branch) {
                continue;
            }
            let next = (next, self.next_seq());
            self.schedule.insert(next, branch.into());
            let p = Pending {
                request: request.to_vec(),
                target,
                invite: flags & 1 != 0,
                interval,
                give_up_at,
                proceeding: flags & 2 != 0,
                next,
            };
            self.pending.insert(branch.into(), p);
        }
        for (until, branch) in completed {
            if self.completed.len() >= MAX_PENDING || self.completed.contains_key(branch) {
                continue;
            }
            self.completed.insert(branch.into(), until);
            self.completed_order.push_back((until, branch.into()));
        }
        // Timer K ends in order, the table's own entries and these together.
        self.completed_order.make_contiguous().sort();
        Ok(())
    }
}

fn take<'a>(r: &mut &'a [u8], n: usize) -> Result<&'a [u8], &'static str> {
    if n > MAX_REQUEST {
        return Err("length beyond the limit");
    }
    let (got, rest) = r.split_at_checked(n).ok_or("cut short")?;
    *r = rest;
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::super::{Due, Transactions};
    use super::*;

    const T1: Duration = Duration::from_millis(500);

    fn core() -> SocketAddr {
        "192.0.2.5:5060".parse().unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// What is due between `from` and `to` ms, every 10 ms: (retransmitted, given up) requests.
    fn due(t: &mut Transactions, from: u64, to: u64) -> Vec<String> {
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for at in (from..=to).step_by(10) {
            t.poll(ms(at), &mut out);
            for d in out.drain(..) {
                seen.push(match d {
                    Due::Retransmit(r, _) => format!("{at} again {}", String::from_utf8_lossy(&r)),
                    Due::GiveUp(r, _) => format!("{at} give up {}", String::from_utf8_lossy(&r)),
                });
            }
        }
        seen
    }

    fn table() -> Transactions {
        let mut t = Transactions::new(T1);
        t.sent(b"z9hG4bKa", b"MESSAGE", b"MESSAGE a", core(), ms(0));
        t.sent(b"z9hG4bKb", b"INVITE", b"INVITE b", core(), ms(100));
        t.sent(
            b"z9hG4bKc",
            b"OPTIONS",
            b"OPTIONS c",
            "[2001:db8::1]:5060".parse().unwrap(),
            ms(200),
        );
        t.answered(b"z9hG4bKc", 100, ms(300));
        t.sent(b"z9hG4bKd", b"MESSAGE", b"MESSAGE d", core(), ms(300));
        t.answered(b"z9hG4bKd", 200, ms(400));
        t
    }

    #[test]
    fn a_table_carried_over_retransmits_gives_up_and_absorbs_as_the_original() {
        let mut original = table();
        let mut state = Vec::new();
        original.export_state(&mut state);
        let mut moved = Transactions::new(T1);
        moved.import_state(&state).unwrap();
        assert_eq!(moved.len(), 3);
        // The final response sent again to the completed MESSAGE is absorbed by both, until Timer K.
        assert_eq!(
            moved.answered(b"z9hG4bKd", 200, ms(500)),
            super::super::Answer::Absorb
        );
        assert_eq!(
            original.answered(b"z9hG4bKd", 200, ms(500)),
            super::super::Answer::Absorb
        );
        let (want, got) = (
            due(&mut original, 500, 40_000),
            due(&mut moved, 500, 40_000),
        );
        assert!(!want.is_empty());
        assert_eq!(got, want);
    }

    #[test]
    fn a_state_cut_short_or_altered_is_refused_or_read_whole() {
        let mut state = Vec::new();
        table().export_state(&mut state);
        for n in 0..state.len() {
            let mut t = Transactions::new(T1);
            assert!(t.import_state(&state[..n]).is_err(), "cut at {n}");
            assert_eq!(t.len(), 0, "nothing taken from a cut state");
        }
        for i in 0..state.len() {
            for byte in [0, 1, 2, 4, 6, 0x7f, 0xff] {
                let mut altered = state.clone();
                altered[i] = byte;
                let mut t = Transactions::new(T1);
                if t.import_state(&altered).is_ok() {
                    // Whatever it took behaves as a table.
                    let _ = due(&mut t, 0, 70_000);
                    t.answered(b"z9hG4bKa", 200, ms(70_000));
                }
            }
        }
    }
}
