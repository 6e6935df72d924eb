//! Load for the echo example: connections ping-ponging fixed-size messages, or held idle to measure memory.
//!
//! ```text
//! echo_load --addr 127.0.0.1:7000 --conns 500 --size 1024 --secs 10 [--watch-pid PID]
//! echo_load --addr 127.0.0.1:7000 --conns 10000 --hold 5 --watch-pid PID
//! ```
//!
//! Ping-pong mode prints messages/s and, with `--watch-pid`, the server's CPU seconds used during the run
//! and messages per server CPU-second. Hold mode opens the connections, waits, and prints the server's RSS
//! before and after, per connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr: SocketAddr = "127.0.0.1:7000".parse()?;
    let (mut conns, mut size, mut secs, mut hold, mut pid) =
        (100usize, 1024usize, 5u64, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => addr = value()?.parse()?,
            "--conns" => conns = value()?.parse()?,
            "--size" => size = value()?.parse()?,
            "--secs" => secs = value()?.parse()?,
            "--hold" => hold = Some(value()?.parse::<u64>()?),
            "--watch-pid" => pid = Some(value()?.parse::<u32>()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if let Some(hold) = hold {
        let before = pid.and_then(rss_kib);
        let mut held = Vec::with_capacity(conns);
        for _ in 0..conns {
            held.push(TcpStream::connect(addr)?);
        }
        // One echo on the last connection: every earlier accept has been handled by then (one worker).
        if let Some(s) = held.last_mut() {
            s.write_all(b"x")?;
            let mut b = [0; 1];
            s.read_exact(&mut b)?;
        }
        std::thread::sleep(Duration::from_secs(hold));
        let after = pid.and_then(rss_kib);
        println!("held {conns} idle connections; server RSS {before:?} KiB -> {after:?} KiB");
        if let (Some(b), Some(a)) = (before, after) {
            println!(
                "RSS growth per connection: {:.0} bytes",
                (a.saturating_sub(b) * 1024) as f64 / conns as f64
            );
        }
        return Ok(());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let threads = 2.min(conns).max(1);
    let per = conns.div_ceil(threads);
    let cpu0 = pid.and_then(cpu_seconds);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (stop, count) = (stop.clone(), count.clone());
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut socks: Vec<TcpStream> = (0..per)
                    .map(|_| TcpStream::connect(addr))
                    .collect::<Result<_, _>>()?;
                for s in &socks {
                    s.set_nodelay(true)?;
                }
                let msg = vec![7u8; size];
                let mut back = vec![0u8; size];
                while !stop.load(Ordering::Relaxed) {
                    // Pipeline: every connection sends, then every connection reads its echo.
                    for s in &mut socks {
                        s.write_all(&msg)?;
                    }
                    for s in &mut socks {
                        s.read_exact(&mut back)?;
                    }
                    count.fetch_add(socks.len() as u64, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().map_err(|_| "client thread panicked")??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let msgs = count.load(Ordering::Relaxed);
    println!(
        "{conns} conns, {size} B messages: {msgs} echoes in {elapsed:.1} s = {:.0} msgs/s",
        msgs as f64 / elapsed
    );
    if let (Some(p), Some(c0)) = (pid, cpu0)
        && let Some(c1) = cpu_seconds(p)
    {
        let cpu = c1 - c0;
        println!(
            "server CPU {cpu:.2} s = {:.0} msgs per server CPU-second",
            msgs as f64 / cpu.max(0.01)
        );
    }
    Ok(())
}
