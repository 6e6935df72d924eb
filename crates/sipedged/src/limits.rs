//! Abuse limits that act before a connection costs anything: per-source-IP connection caps and handshake rates
//! (lock-free tables shared by the workers: a fixed array of atomics indexed by a keyed hash of the address, so a
//! flood never takes a lock and never allocates), and a per-connection SIP request rate.
//!
//! A source is an IPv4 address or an IPv6 network: one host usually holds a whole IPv6 /64, so counting each
//! IPv6 address apart would let it escape every per-IP limit; [`IpLimits`] groups IPv6 addresses by a prefix
//! (`[limits] ipv6_prefix`, /64 by default). IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, as a `[::]` listener
//! sees IPv4 clients) are the IPv4 address ([`canonical`]) wherever the gateway compares or counts addresses.

use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

/// Buckets in the per-IP tables. Addresses that collide share a bucket (the limits then err on the strict side).
const SLOTS: usize = 1 << 16;

/// The IPv6 prefix length that counts as one source unless configured otherwise (RFC 6177: a site gets a /64
/// at least, usually more).
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// The largest connection rate or burst a token bucket counts (its tokens are thousandths in 32 bits).
pub const MAX_RATE: u32 = 1_000_000;

/// The longest IPv6 prefix (one address).
pub const MAX_IPV6_PREFIX: u8 = 128;

/// The address as the gateway compares it: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is the IPv4 address
/// it maps; every other address is itself.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// Whether `ip` is one of `trusted`, both sides [`canonical`] (a proxy configured as `10.0.0.9` and seen as
/// `::ffff:10.0.0.9` on a `[::]` listener is the same proxy).
pub fn is_trusted(trusted: &[IpAddr], ip: IpAddr) -> bool {
    let ip = canonical(ip);
    trusted.iter().any(|t| canonical(*t) == ip)
}

/// The source a per-IP limit counts `ip` under: the IPv4 address, or the IPv6 network of `prefix` bits that
/// holds it (all IPv6 addresses share one source at 0, each is its own at 128).
pub fn source(ip: IpAddr, prefix: u8) -> IpAddr {
    match canonical(ip) {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let bits = u32::from(prefix.min(MAX_IPV6_PREFIX));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

/// Why a new connection is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The source address holds `max_connections_per_ip` already.
    ConnectionCap,
    /// The source address opens connections faster than `handshakes_per_ip_per_second`.
    HandshakeRate,
}

/// Per-source-IP limits shared by all workers.
pub struct IpLimits {
    conns: Box<[AtomicU32]>,
    buckets: Box<[AtomicU64]>,
    /// The bounds (atomics: a reload changes them in place, keeping the counts).
    max_conns: AtomicU32,
    rate_per_sec: AtomicU32,
    burst: AtomicU32,
    ipv6_prefix: u8,
    hasher: std::collections::hash_map::RandomState,
    epoch: Instant,
}

impl std::fmt::Debug for IpLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpLimits")
            .field("max_conns", &self.max_conns)
            .field("rate_per_sec", &self.rate_per_sec)
            .field("ipv6_prefix", &self.ipv6_prefix)
            .finish()
    }
}

impl IpLimits {
    /// `max_conns` connections per address (0: no cap), `rate_per_sec` new connections per second per address
    /// with bursts of `burst` (0: no rate limit); IPv6 addresses are grouped by [`DEFAULT_IPV6_PREFIX`].
    pub fn new(max_conns: u32, rate_per_sec: u32, burst: u32) -> Self {
        let active = max_conns > 0 || rate_per_sec > 0;
        let n = if active { SLOTS } else { 0 };
        Self {
            conns: (0..n).map(|_| AtomicU32::new(0)).collect(),
            buckets: (0..n).map(|_| AtomicU64::new(0)).collect(),
            max_conns: AtomicU32::new(max_conns),
            rate_per_sec: AtomicU32::new(rate_per_sec),
            burst: AtomicU32::new(burst.max(1)),
            ipv6_prefix: DEFAULT_IPV6_PREFIX,
            hasher: Default::default(),
            epoch: Instant::now(),
        }
    }

    /// Group IPv6 addresses by their first `prefix` bits (at most [`MAX_IPV6_PREFIX`]; the plan checks the
    /// configured value) instead of [`DEFAULT_IPV6_PREFIX`].
    pub fn with_ipv6_prefix(mut self, prefix: u8) -> Self {
        self.ipv6_prefix = prefix.min(MAX_IPV6_PREFIX);
        self
    }

    /// Whether any per-IP limit is on.
    pub fn is_active(&self) -> bool {
        !self.conns.is_empty()
            && (self.max_conns.load(Ordering::Relaxed) > 0
                || self.rate_per_sec.load(Ordering::Relaxed) > 0)
    }

    /// Take new bounds in place (a reload), keeping the counts of the connections admitted so far: `false` when
    /// that cannot be done (limits were off at start, so nothing was counted: a new table is needed, and
    /// starts right, since no open connection holds a count in it; or the IPv6 grouping changed).
    pub fn retune(&self, max_conns: u32, rate_per_sec: u32, burst: u32, ipv6_prefix: u8) -> bool {
        let wanted = max_conns > 0 || rate_per_sec > 0;
        if (wanted && self.conns.is_empty()) || ipv6_prefix.min(MAX_IPV6_PREFIX) != self.ipv6_prefix
        {
            return false;
        }
        self.max_conns.store(max_conns, Ordering::Relaxed);
        self.rate_per_sec.store(rate_per_sec, Ordering::Relaxed);
        self.burst.store(burst.max(1), Ordering::Relaxed);
        true
    }

    /// The bucket of `ip`'s [`source`].
    fn slot(&self, ip: IpAddr) -> usize {
        let mut h = self.hasher.build_hasher();
        source(ip, self.ipv6_prefix).hash(&mut h);
        (std::hash::Hasher::finish(&h) as usize) & (SLOTS - 1)
    }

    /// Count a new connection from `ip`, or refuse it. A counted connection must be [`released`](Self::release).
    pub fn admit(&self, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        if self.conns.is_empty() {
            return Ok(());
        }
        let slot = self.slot(ip);
        if self.rate_per_sec.load(Ordering::Relaxed) > 0 && !self.take_token(slot, now) {
            return Err(Refusal::HandshakeRate);
        }
        let max_conns = self.max_conns.load(Ordering::Relaxed);
        if max_conns > 0 {
            let c = &self.conns[slot];
            let mut cur = c.load(Ordering::Relaxed);
            loop {
                if cur >= max_conns {
                    return Err(Refusal::ConnectionCap);
                }
                match c.compare_exchange_weak(cur, cur + 1, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => break,
                    Err(x) => cur = x,
                }
            }
        }
        Ok(())
    }

    /// Count a connection from `ip` that is already open (handed over from another process): never refused,
    /// even over the cap, and [released](Self::release) like an admitted one.
    pub fn count_existing(&self, ip: IpAddr) {
        if !self.conns.is_empty() {
            self.conns[self.slot(ip)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A connection admitted for `ip` closed.
    pub fn release(&self, ip: IpAddr) {
        if !self.conns.is_empty() {
            let _ =
                self.conns[self.slot(ip)]
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| c.checked_sub(1));
        }
    }

    fn take_token(&self, slot: usize, now: Instant) -> bool {
        take_token(
            &self.buckets[slot],
            self.rate_per_sec.load(Ordering::Relaxed),
            self.burst.load(Ordering::Relaxed),
            self.epoch,
            now,
        )
    }
}

/// Token bucket packed in one word: high 32 bits the last refill (ms since `epoch`, wrapping), low 32 bits the
/// tokens in thousandths. Takes one token at `now` (refilled at `rate` per second up to `burst`), or says no.
fn take_token(b: &AtomicU64, rate: u32, burst: u32, epoch: Instant, now: Instant) -> bool {
    let now_ms = now.saturating_duration_since(epoch).as_millis() as u32;
    let cap = u64::from(burst) * 1000;
    let mut cur = b.load(Ordering::Relaxed);
    loop {
        let (last, tokens) = ((cur >> 32) as u32, cur & 0xffff_ffff);
        let tokens = if cur == 0 {
            cap
        } else {
            let elapsed = u64::from(now_ms.wrapping_sub(last));
            (tokens + elapsed * u64::from(rate)).min(cap)
        };
        if tokens < 1000 {
            return false;
        }
        let next = (u64::from(now_ms) << 32) | (tokens - 1000).max(1);
        match b.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(x) => cur = x,
        }
    }
}

/// The node's WebSocket upgrades per second, all workers and sources together (`[limits]
/// handshakes_per_second`): one token bucket in one atomic word, with a burst of one second's worth. It spreads a
/// reconnection storm (every browser of a failed node arriving at once) over time, so that the clients the node
/// already serves keep their share of it.
#[derive(Debug)]
pub struct NodeHandshakeRate {
    bucket: AtomicU64,
    /// An atomic: a reload changes it in place.
    per_second: AtomicU32,
    epoch: Instant,
}

impl NodeHandshakeRate {
    /// `per_second` upgrades per second (0: unlimited; at most [`MAX_RATE`]).
    pub fn new(per_second: u32) -> Self {
        Self {
            bucket: AtomicU64::new(0),
            per_second: AtomicU32::new(per_second.min(MAX_RATE)),
            epoch: Instant::now(),
        }
    }

    /// Take a new rate in place (a reload).
    pub fn retune(&self, per_second: u32) {
        self.per_second
            .store(per_second.min(MAX_RATE), Ordering::Relaxed);
    }

    /// Whether one more upgrade may go ahead at `now` (always, when unlimited).
    pub fn admit(&self, now: Instant) -> bool {
        let rate = self.per_second.load(Ordering::Relaxed);
        rate == 0 || take_token(&self.bucket, rate, rate, self.epoch, now)
    }
}

/// A per-connection SIP request rate (token bucket, 8 bytes).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestBucket {
    last_ms: u32,
    milli_tokens: u32,
}

impl RequestBucket {
    /// The bucket for a hand-over: milliseconds since its last take at `now_ms` and its milli-tokens; `None`
    /// while no request was taken.
    pub fn state(&self, now_ms: u64) -> Option<(u32, u32)> {
        (self.last_ms != 0 || self.milli_tokens != 0).then(|| {
            (
                (now_ms as u32).wrapping_sub(self.last_ms),
                self.milli_tokens,
            )
        })
    }

    /// A bucket as [`state`](Self::state) described it, at `now_ms` on this process's clock (the next take caps
    /// the tokens at the burst).
    pub fn restore(now_ms: u64, since_ms: u32, milli_tokens: u32) -> Self {
        Self {
            last_ms: (now_ms as u32).wrapping_sub(since_ms).max(1),
            milli_tokens,
        }
    }

    /// Take one token at `now_ms`, refilling `rate` per second up to `burst`; `false` when the request is over
    /// the rate.
    pub fn take(&mut self, now_ms: u64, rate: u32, burst: u32) -> bool {
        let now = now_ms as u32;
        let cap = burst.max(1).saturating_mul(1000);
        if self.last_ms == 0 && self.milli_tokens == 0 {
            self.milli_tokens = cap;
        } else {
            let elapsed = now.wrapping_sub(self.last_ms);
            self.milli_tokens = self
                .milli_tokens
                .saturating_add(elapsed.saturating_mul(rate))
                .min(cap);
        }
        self.last_ms = now.max(1);
        if self.milli_tokens < 1000 {
            return false;
        }
        self.milli_tokens -= 1000;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, n])
    }

    #[test]
    fn the_node_rate_allows_a_second_s_worth_then_refills() {
        let t = Instant::now();
        let r = NodeHandshakeRate::new(3);
        assert_eq!((0..5).filter(|_| r.admit(t)).count(), 3);
        assert!(!r.admit(t + Duration::from_millis(100)));
        assert!(r.admit(t + Duration::from_millis(400)), "one refilled");
        assert!(!r.admit(t + Duration::from_millis(400)));
        let unlimited = NodeHandshakeRate::new(0);
        assert!((0..10_000).all(|_| unlimited.admit(t)));
    }

    #[test]
    fn connection_cap_per_ip_and_release() {
        let l = IpLimits::new(2, 0, 0);
        let t = Instant::now();
        assert_eq!(l.admit(ip(2), t), Ok(()));
        assert_eq!(l.admit(ip(2), t), Ok(()));
        assert_eq!(l.admit(ip(2), t), Err(Refusal::ConnectionCap));
        assert_eq!(
            l.admit(ip(3), t),
            Ok(()),
            "other addresses are not affected"
        );
        l.release(ip(2));
        assert_eq!(l.admit(ip(2), t), Ok(()));
    }

    #[test]
    fn handshake_rate_refills_over_time() {
        let l = IpLimits::new(0, 10, 3);
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.admit(ip(2), t), Ok(()));
        }
        assert_eq!(l.admit(ip(2), t), Err(Refusal::HandshakeRate));
        assert_eq!(l.admit(ip(3), t), Ok(()));
        // 10/s: after 100 ms one more.
        assert_eq!(l.admit(ip(2), t + Duration::from_millis(110)), Ok(()));
        assert_eq!(
            l.admit(ip(2), t + Duration::from_millis(110)),
            Err(Refusal::HandshakeRate)
        );
    }

    #[test]
    fn disabled_limits_cost_nothing() {
        let l = IpLimits::new(0, 0, 0);
        assert!(l.conns.is_empty());
        for _ in 0..1000 {
            assert_eq!(l.admit(ip(2), Instant::now()), Ok(()));
        }
    }

    fn v6(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn addresses_of_one_ipv6_slash64_share_one_connection_cap() {
        let l = IpLimits::new(2, 0, 0);
        let t = Instant::now();
        assert_eq!(l.admit(v6("2001:db8:1:2::1"), t), Ok(()));
        assert_eq!(l.admit(v6("2001:db8:1:2:ffff::9"), t), Ok(()));
        assert_eq!(
            l.admit(v6("2001:db8:1:2:dead:beef:0:1"), t),
            Err(Refusal::ConnectionCap),
            "a third address of the same /64 is the same source"
        );
        assert_eq!(
            l.admit(v6("2001:db8:1:3::1"), t),
            Ok(()),
            "the next /64 is another source"
        );
        l.release(v6("2001:db8:1:2::77"));
        assert_eq!(l.admit(v6("2001:db8:1:2::1"), t), Ok(()));
    }

    #[test]
    fn addresses_of_one_ipv6_slash64_share_one_handshake_rate() {
        let l = IpLimits::new(0, 1, 2);
        let t = Instant::now();
        assert_eq!(l.admit(v6("2001:db8::1"), t), Ok(()));
        assert_eq!(l.admit(v6("2001:db8::2"), t), Ok(()));
        assert_eq!(
            l.admit(v6("2001:db8::3"), t),
            Err(Refusal::HandshakeRate),
            "rotating through the /64 does not refill the bucket"
        );
    }

    #[test]
    fn an_ipv4_mapped_address_counts_as_its_ipv4_address() {
        let l = IpLimits::new(1, 0, 0);
        let t = Instant::now();
        assert_eq!(l.admit(v6("::ffff:192.0.2.7"), t), Ok(()));
        assert_eq!(
            l.admit(v6("192.0.2.7"), t),
            Err(Refusal::ConnectionCap),
            "seen on a [::] listener and on a 0.0.0.0 listener, one client"
        );
        l.release(v6("192.0.2.7"));
        assert_eq!(l.admit(v6("::ffff:192.0.2.7"), t), Ok(()));
    }

    #[test]
    fn the_ipv6_prefix_is_configurable() {
        let t = Instant::now();
        let each = IpLimits::new(1, 0, 0).with_ipv6_prefix(128);
        assert_eq!(each.admit(v6("2001:db8::1"), t), Ok(()));
        assert_eq!(
            each.admit(v6("2001:db8::2"), t),
            Ok(()),
            "/128: one address"
        );
        let site = IpLimits::new(1, 0, 0).with_ipv6_prefix(48);
        assert_eq!(site.admit(v6("2001:db8:7:1::1"), t), Ok(()));
        assert_eq!(
            site.admit(v6("2001:db8:7:2::1"), t),
            Err(Refusal::ConnectionCap),
            "/48: one site"
        );
    }

    #[test]
    fn sources_mask_ipv6_and_keep_ipv4() {
        assert_eq!(source(v6("2001:db8:a:b:c:d:e:f"), 64), v6("2001:db8:a:b::"));
        assert_eq!(source(v6("2001:db8:a:b:c:d:e:f"), 0), v6("::"));
        assert_eq!(
            source(v6("2001:db8:a:b:c:d:e:f"), 128),
            v6("2001:db8:a:b:c:d:e:f")
        );
        assert_eq!(
            source(v6("2001:db8:a:b:c:d:e:f"), 200),
            v6("2001:db8:a:b:c:d:e:f")
        );
        assert_eq!(source(v6("::ffff:10.1.2.3"), 64), v6("10.1.2.3"));
        assert_eq!(source(v6("10.1.2.3"), 0), v6("10.1.2.3"));
    }

    #[test]
    fn a_trusted_proxy_seen_as_an_ipv4_mapped_address_is_trusted() {
        let trusted = [v6("10.0.0.9")];
        assert!(is_trusted(&trusted, v6("::ffff:10.0.0.9")));
        assert!(is_trusted(&[v6("::ffff:10.0.0.9")], v6("10.0.0.9")));
        assert!(!is_trusted(&trusted, v6("::ffff:10.0.0.8")));
        assert!(
            !is_trusted(&trusted, v6("::10.0.0.9")),
            "IPv4-compatible is not mapped"
        );
    }

    #[test]
    fn request_bucket() {
        let mut b = RequestBucket::default();
        let mut ok = 0;
        for _ in 0..10 {
            ok += usize::from(b.take(1_000, 5, 4));
        }
        assert_eq!(ok, 4, "burst");
        assert!(!b.take(1_100, 5, 4), "5/s: 100 ms gives half a token");
        assert!(b.take(1_300, 5, 4), "300 ms gives 1.5 tokens");
    }
}
