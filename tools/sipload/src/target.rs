//! Flag values: the `ws://` / `wss://` target, source address ranges, rates.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// A `ws://host:port/path` or `wss://host:port/path` target, resolved once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What the user wrote.
    pub url: String,
    /// `wss://`: TLS first.
    pub tls: bool,
    /// The host alone (the TLS server name).
    pub hostname: String,
    /// The `Host` header value (`host:port`).
    pub host: String,
    /// The request path (at least `/`).
    pub path: String,
    /// The resolved address.
    pub addr: SocketAddr,
}

impl FromStr for Target {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, String> {
        let (rest, tls) = if let Some(rest) = url.strip_prefix("ws://") {
            (rest, false)
        } else if let Some(rest) = url.strip_prefix("wss://") {
            (rest, true)
        } else {
            return Err(format!(
                "{url:?}: expected ws://HOST:PORT[/PATH] or wss://..."
            ));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        let (hostname, with_port) = match authority.rsplit_once(':') {
            Some((h, p))
                if !h.is_empty()
                    && !p.is_empty()
                    && p.bytes().all(|b| b.is_ascii_digit())
                    && (!h.starts_with('[') || h.ends_with(']')) =>
            {
                (h.to_owned(), authority.to_owned())
            }
            _ => {
                let port = if tls { 443 } else { 80 };
                (authority.to_owned(), format!("{authority}:{port}"))
            }
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("{url:?}: cannot resolve {with_port}: {e}"))?
            .next()
            .ok_or_else(|| format!("{url:?}: {with_port} resolves to nothing"))?;
        Ok(Self {
            url: url.to_owned(),
            tls,
            hostname,
            host: with_port,
            path: path.to_owned(),
            addr,
        })
    }
}

/// An inclusive range of IPv4 source addresses, `A.B.C.D-E.F.G.H` (or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceRange {
    /// First address.
    pub first: Ipv4Addr,
    /// Last address (inclusive).
    pub last: Ipv4Addr,
}

impl FromStr for SourceRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let first: Ipv4Addr = a
            .trim()
            .parse()
            .map_err(|e| format!("{a:?}: not an IPv4 address ({e})"))?;
        let last: Ipv4Addr = b
            .trim()
            .parse()
            .map_err(|e| format!("{b:?}: not an IPv4 address ({e})"))?;
        if u32::from(last) < u32::from(first) {
            return Err(format!("{s:?}: the range ends before it starts"));
        }
        if u32::from(last) - u32::from(first) >= 1 << 20 {
            return Err(format!("{s:?}: more than 2^20 addresses"));
        }
        Ok(Self { first, last })
    }
}

impl SourceRange {
    /// Number of addresses.
    pub fn len(&self) -> usize {
        (u32::from(self.last) - u32::from(self.first)) as usize + 1
    }

    /// The addresses worker `index` of `of` uses: an even slice, or (with fewer addresses than
    /// workers) one address shared round-robin.
    pub fn slice(&self, index: usize, of: usize) -> Vec<IpAddr> {
        let n = self.len();
        let of = of.max(1);
        let first = u32::from(self.first);
        let (lo, hi) = if n >= of {
            (index * n / of, (index + 1) * n / of)
        } else {
            (index % n, index % n + 1)
        };
        (lo..hi)
            .map(|i| IpAddr::V4(Ipv4Addr::from(first + i as u32)))
            .collect()
    }
}

/// A rate per second, written `N/s` or `N`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate(pub f64);

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let n = s.strip_suffix("/s").unwrap_or(s);
        let v: f64 = n
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: expected a rate such as 2000/s"))?;
        if !(v.is_finite() && v > 0.0) {
            return Err(format!("{s:?}: the rate must be positive"));
        }
        Ok(Self(v))
    }
}

/// Which worker process this is: `INDEX/COUNT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildSpec {
    /// This worker's index.
    pub index: usize,
    /// How many workers the run has.
    pub count: usize,
}

impl FromStr for ChildSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s.split_once('/').ok_or("expected INDEX/COUNT")?;
        let index: usize = i.parse().map_err(|_| "bad index")?;
        let count: usize = n.parse().map_err(|_| "bad count")?;
        if index >= count {
            return Err("index out of range".into());
        }
        Ok(Self { index, count })
    }
}

impl ChildSpec {
    /// This worker's share of `total` (the first `total % count` workers take one more).
    pub fn share(&self, total: u64) -> u64 {
        let n = self.count as u64;
        total / n + u64::from((self.index as u64) < total % n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t: Target = "ws://127.0.0.1:9001/ws".parse().unwrap();
        assert_eq!(t.addr, "127.0.0.1:9001".parse().unwrap());
        assert_eq!(
            (t.host.as_str(), t.path.as_str()),
            ("127.0.0.1:9001", "/ws")
        );
        let t: Target = "ws://127.0.0.1".parse().unwrap();
        assert_eq!((t.addr.port(), t.path.as_str()), (80, "/"));
        assert!(!t.tls);
        let t: Target = "wss://localhost:8443/sip?x=1".parse().unwrap();
        assert!(t.tls);
        assert_eq!(
            (t.hostname.as_str(), t.host.as_str(), t.path.as_str()),
            ("localhost", "localhost:8443", "/sip?x=1")
        );
        let t: Target = "wss://127.0.0.1".parse().unwrap();
        assert_eq!((t.addr.port(), t.hostname.as_str()), (443, "127.0.0.1"));
        assert!("http://x:1".parse::<Target>().is_err());
        assert!("ws:///x".parse::<Target>().is_err());
    }

    #[test]
    fn source_slices_cover_the_range_once() {
        let r: SourceRange = "127.0.0.2-127.0.0.255".parse().unwrap();
        assert_eq!(r.len(), 254);
        let mut all: Vec<IpAddr> = (0..8).flat_map(|i| r.slice(i, 8)).collect();
        assert_eq!(all.len(), 254);
        all.dedup();
        assert_eq!(all.len(), 254);
        assert_eq!(all[0], IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)));
        let two: SourceRange = "127.0.0.2-127.0.0.3".parse().unwrap();
        assert_eq!(
            two.slice(3, 4),
            vec![IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3))]
        );
        assert!("127.0.0.9-127.0.0.2".parse::<SourceRange>().is_err());
        assert!("1.2.3".parse::<SourceRange>().is_err());
    }

    #[test]
    fn rates_and_shares() {
        assert_eq!("2000/s".parse::<Rate>().unwrap(), Rate(2000.0));
        assert_eq!("5".parse::<Rate>().unwrap(), Rate(5.0));
        assert!("0/s".parse::<Rate>().is_err());
        assert!("fast".parse::<Rate>().is_err());
        let shares: Vec<u64> = (0..3)
            .map(|index| ChildSpec { index, count: 3 }.share(100))
            .collect();
        assert_eq!(shares, vec![34, 33, 33]);
        assert!("3/3".parse::<ChildSpec>().is_err());
    }
}
