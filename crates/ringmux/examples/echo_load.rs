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

#[path = "common/proc_stat.rs"]
mod proc_stat;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proc_stat::{cpu_seconds, growth_per_conn, rss_kib};

use clap::Parser;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The command line.
#[derive(Debug, Parser)]
struct Args {
    /// The echo server.
    #[arg(long, default_value = "127.0.0.1:7000")]
    addr: SocketAddr,
    /// Connections.
    #[arg(long, default_value_t = 100)]
    conns: usize,
    /// Bytes per message.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Seconds of ping-pong.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// Hold mode: keep the connections idle this many seconds.
    #[arg(long)]
    hold: Option<u64>,
    /// The server's process, to read its CPU time and RSS.
    #[arg(long = "watch-pid")]
    pid: Option<u32>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    match args.hold {
        Some(secs) => hold(&args, Duration::from_secs(secs)),
        None => ping_pong(&args),
    }
}

/// Opens the connections, keeps them idle for `secs`, prints the server's RSS growth.
fn hold(args: &Args, secs: Duration) -> Result<()> {
    let before = args.pid.and_then(rss_kib);
    let mut held = Vec::with_capacity(args.conns);
    for _ in 0..args.conns {
        held.push(TcpStream::connect(args.addr)?);
    }
    // One echo on the last connection: every earlier accept has been handled by then (one worker).
    if let Some(s) = held.last_mut() {
        s.write_all(b"x")?;
        let mut b = [0; 1];
        s.read_exact(&mut b)?;
    }
    std::thread::sleep(secs);
    let after = args.pid.and_then(rss_kib);
    let conns = args.conns;
    println!("held {conns} idle connections; server RSS {before:?} KiB -> {after:?} KiB");
    if let Some(per) = growth_per_conn(before, after, conns) {
        println!("RSS growth per connection: {per:.0} bytes");
    }
    Ok(())
}

/// One client thread: its connections each send a message, then each read its echo, until `stop`.
fn pipeline(args: &Args, per: usize, stop: &AtomicBool, count: &AtomicU64) -> std::io::Result<()> {
    let mut socks: Vec<TcpStream> = (0..per)
        .map(|_| TcpStream::connect(args.addr))
        .collect::<std::result::Result<_, _>>()?;
    for s in &socks {
        s.set_nodelay(true)?;
    }
    let msg = vec![7u8; args.size];
    let mut back = vec![0u8; args.size];
    while !stop.load(Ordering::Relaxed) {
        for s in &mut socks {
            s.write_all(&msg)?;
        }
        for s in &mut socks {
            s.read_exact(&mut back)?;
        }
        count.fetch_add(socks.len() as u64, Ordering::Relaxed);
    }
    Ok(())
}

/// Echoes flat out for `secs` on two threads; prints messages/s and per server CPU-second.
fn ping_pong(args: &Args) -> Result<()> {
    let (stop, count) = (AtomicBool::new(false), AtomicU64::new(0));
    let threads = 2.min(args.conns).max(1);
    let per = args.conns.div_ceil(threads);
    let cpu0 = args.pid.and_then(cpu_seconds);
    let started = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| pipeline(args, per, &stop, &count)))
            .collect();
        std::thread::sleep(Duration::from_secs(args.secs));
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            h.join().map_err(|_| "client thread panicked")??;
        }
        Ok(())
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    let msgs = count.load(Ordering::Relaxed);
    let (conns, size) = (args.conns, args.size);
    println!(
        "{conns} conns, {size} B messages: {msgs} echoes in {elapsed:.1} s = {:.0} msgs/s",
        msgs as f64 / elapsed
    );
    if let (Some(p), Some(c0)) = (args.pid, cpu0)
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
