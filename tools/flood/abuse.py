#!/usr/bin/env python3
"""The attack clients of rows c) and d) of tools/flood/flood.sh, and their verdict (standard library only).

usage: python3 tools/flood/abuse.py COMMAND ARGS...

  zero-window PORT ADMIN PID N RATE HOLD SOURCES OUT
        N WebSocket clients (from the SOURCES addresses, comma-separated, in turn) open at RATE per second on
        127.0.0.1:PORT with the smallest receive buffer and never read after registering. Each sends itself MESSAGEs
        of 30 KB that the gateway must queue back to it: the even ones 600 KB and, half a second later, a
        WebSocket close (the gateway's graceful close then waits for them to read: close_timeout), the odd ones
        1.44 MB (over the per-connection send-queue bound of 1 MiB: a slow consumer, possibly cut while it still
        sends). HOLD seconds after the last one opened,
        /metrics (admin port ADMIN) goes into metrics-c-held.json beside OUT, then the sockets are closed. The
        RSS of process PID is sampled every 100 ms. Writes OUT (JSON).
  trickle ADMIN PID K SECS SOURCE OUT
        K connections from SOURCE to the admin port 127.0.0.1:ADMIN, each sending one byte of a never-ending
        request head every second (a connection that is cut is opened again at the next second), for SECS seconds,
        while a probe from 127.0.0.1 GETs /metrics every 100 ms. The RSS of process PID is sampled every 100 ms.
        Writes OUT (JSON).
  table OUT N K SECS
        rows c) and d) of the flood table from OUT/zero-window.json, OUT/trickle.json, OUT/req-baseline.json,
        OUT/req-zw-normal.json and OUT/metrics-{c-before,c-held,c-after,d-before,d-after}.json; exit 1 when a row fails. Writes
        OUT/flood-cd.json.

Every loop is bounded in count and in time; all traffic goes to 127.0.0.1.
"""
import base64
import json
import os
import selectors
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import benchlib  # noqa: E402

# The gateway's per-connection send-queue bound (ringmux::Config::send_queue_limit, not configurable).
SEND_QUEUE_LIMIT = 1 << 20
BODY = 30_000
CLOSER_MESSAGES = 20
HOARDER_MESSAGES = 48
# A closer sends its WebSocket close this long after its MESSAGEs, once the gateway has queued them back to it (a
# MESSAGE to an AoR of another worker's shard goes there and back between workers first).
CLOSE_AFTER = 0.5
# An Internet MSS: over loopback's 64 KiB one the kernel would size the gateway's socket send buffer for 4 MiB at
# once and hold the whole queue itself.
MSS = 1460
# The admin endpoint's bounds (crates/sipedged/src/admin): connections at once, a generous allowance for each
# (a connection's task and buffers take far less), a request head's size.
ADMIN_THREADS = 32
ADMIN_STACK = 256 * 1024
ADMIN_HEAD = 8 * 1024
ADMIN_HEAD_DEADLINE = 5.0


def rss_kib(pid):
    """VmRSS of `pid` in KiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler(threading.Thread):
    """Samples a process's RSS every 100 ms until stopped (at most `limit` samples)."""

    def __init__(self, pid, limit=6000):
        super().__init__(daemon=True)
        self.pid, self.limit, self.samples, self.stop = pid, limit, [], threading.Event()

    def run(self):
        while not self.stop.is_set() and len(self.samples) < self.limit:
            self.samples.append(rss_kib(self.pid))
            self.stop.wait(0.1)

    def finish(self):
        self.stop.set()
        self.join(5)
        return {"first_kib": self.samples[0] if self.samples else 0,
                "peak_kib": max(self.samples, default=0),
                "last_kib": self.samples[-1] if self.samples else 0,
                "samples": len(self.samples)}


# ---------------------------------------------------------------------------------------------------------------
# WebSocket and SIP, as much as the attack needs


def frame(payload, opcode=1):
    """A client frame (FIN) carrying `payload`, masked with the zero key (valid, and the bytes stay as they are)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


CLOSE = frame((1000).to_bytes(2, "big"), opcode=8)


def read_until(sock, pred, limit=65536):
    """Bytes read from `sock` until pred(bytes) holds (socket timeout applies); ValueError past `limit`."""
    got = b""
    while not pred(got):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed by the gateway")
        got += chunk
        if len(got) > limit:
            raise ValueError("answer too long")
    return got


def server_frame(data):
    """(payload, rest) of the first complete unmasked server frame in `data`, or None."""
    if len(data) < 2:
        return None
    n, off = data[1] & 0x7F, 2
    if n == 126:
        if len(data) < 4:
            return None
        n, off = int.from_bytes(data[2:4], "big"), 4
    elif n == 127:
        if len(data) < 10:
            return None
        n, off = int.from_bytes(data[2:10], "big"), 10
    if len(data) < off + n:
        return None
    return data[off:off + n], data[off + n:]


def sip(method, user, cseq, extra="", body=""):
    """A SIP request from `user` to itself (REGISTER goes to the domain)."""
    ruri = "sip:example.test" if method == "REGISTER" else f"sip:{user}@example.test"
    return (f"{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/WS {user}.invalid;branch=z9hG4bK{user}c{cseq}\r\n"
            f"Max-Forwards: 70\r\nTo: <sip:{user}@example.test>\r\nFrom: <sip:{user}@example.test>;tag={user}t\r\n"
            f"Call-ID: {user}-{cseq}\r\nCSeq: {cseq} {method}\r\n{extra}Content-Length: {len(body)}\r\n\r\n{body}"
            ).encode()


def zero_window_client(port, source, user):
    """A registered WebSocket client that will not read: the smallest receive buffer, an Internet MSS."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, MSS)
        s.settimeout(5)
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n"
                   f"Origin: http://127.0.0.1\r\n\r\n").encode())
        head = read_until(s, lambda b: b"\r\n\r\n" in b)
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
        rest = head.split(b"\r\n\r\n", 1)[1]
        contact = f"Contact: <sip:{user}@{user}.invalid;transport=ws>;expires=600\r\n"
        s.sendall(frame(sip("REGISTER", user, 1, contact)))
        got = read_until(s, lambda b: server_frame(rest + b) is not None)
        answer = server_frame(rest + got)[0]
        if not answer.startswith(b"SIP/2.0 200"):
            raise ConnectionError(answer.split(b"\r\n", 1)[0].decode(errors="replace"))
        return s
    except BaseException:
        s.close()
        raise


def send_closes(closing, now, errors):
    """Send the WebSocket close of the closers whose time came (and forget them)."""
    while closing and closing[0][0] <= now:
        _, s = closing.pop(0)
        try:
            s.sendall(CLOSE)
        except OSError as e:
            why = f"closer close: {type(e).__name__}: {e}"
            errors[why] = errors.get(why, 0) + 1


def zero_window(port, admin, pid, n, rate, hold, sources, out):
    """The zero-window attack; its record into `out`."""
    sampler = RssSampler(pid)
    sampler.start()
    body = "x" * BODY
    socks, closing, errors = [], [], {}
    outcomes = {"closer": 0, "hoarder": 0, "hoarder cut while sending": 0}
    start = time.monotonic()
    for i in range(n):
        send_closes(closing, time.monotonic(), errors)
        wait = start + i / rate - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        kind = "closer" if i % 2 == 0 else "hoarder"
        user = f"zw{i}"
        try:
            s = zero_window_client(port, sources[i % len(sources)], user)
        except (OSError, ValueError) as e:
            why = f"{kind} not registered: {type(e).__name__}: {e}"
            errors[why] = errors.get(why, 0) + 1
            continue
        socks.append(s)
        try:
            count = CLOSER_MESSAGES if kind == "closer" else HOARDER_MESSAGES
            for j in range(count):
                s.sendall(frame(sip("MESSAGE", user, j + 2, "Content-Type: text/plain\r\n", body)))
            outcomes[kind] += 1
            if kind == "closer":
                closing.append((time.monotonic() + CLOSE_AFTER, s))
        except (ConnectionResetError, BrokenPipeError) as e:
            # Over the send-queue bound already: the gateway cut it while it was still sending.
            key = "hoarder cut while sending" if kind == "hoarder" else f"closer: {type(e).__name__}"
            outcomes[key] = outcomes.get(key, 0) + 1
        except OSError as e:
            why = f"{kind}: {type(e).__name__}: {e}"
            errors[why] = errors.get(why, 0) + 1
    opened = time.monotonic() - start
    time.sleep(CLOSE_AFTER)
    send_closes(closing, time.monotonic(), errors)
    time.sleep(max(0.0, hold - CLOSE_AFTER))
    # What the gateway still holds while every attacker still holds its socket.
    benchlib.fetch_metrics(admin, os.path.join(os.path.dirname(os.path.abspath(out)), "metrics-c-held.json"))
    for s in socks:
        s.close()
    record = {"clients": n, "rate": rate, "sources": sources, "opened_in_s": round(opened, 2), "hold_s": hold,
              "ready": outcomes, "errors": errors, "queued_per_closer": CLOSER_MESSAGES * BODY,
              "queued_per_hoarder": HOARDER_MESSAGES * BODY, "rss": sampler.finish()}
    with open(out, "w") as f:
        json.dump(record, f, indent=1)
    return 0


# ---------------------------------------------------------------------------------------------------------------
# The trickling admin client


class Probe(threading.Thread):
    """GET /metrics every 100 ms from 127.0.0.1 until stopped; each answer's status and time."""

    def __init__(self, admin, limit=3000):
        super().__init__(daemon=True)
        self.admin, self.limit, self.results, self.stop = admin, limit, [], threading.Event()

    def get(self):
        t0 = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", self.admin), timeout=2) as s:
                s.settimeout(2)
                s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                got = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
            status = got.split(b"\r\n", 1)[0].decode(errors="replace")
        except OSError as e:
            status = f"error {type(e).__name__}"
        return status, (time.monotonic() - t0) * 1000

    def run(self):
        while not self.stop.is_set() and len(self.results) < self.limit:
            self.results.append(self.get())
            self.stop.wait(0.1)


def trickle(admin, pid, k, secs, source, out):
    """The trickling admin attack; its record into `out`."""
    sampler, probe = RssSampler(pid), Probe(admin)
    sampler.start()
    probe.start()
    sel = selectors.DefaultSelector()
    slots = [None] * k  # per slot: (socket, opened at, bytes sent) or None
    answers, lifetimes, opened = {}, [], 0
    start = time.monotonic()
    next_tick = start
    while time.monotonic() - start < secs and opened < k * (secs + 2):
        now = time.monotonic()
        if now >= next_tick:
            next_tick += 1.0
            for i, slot in enumerate(slots):
                if slot is None:
                    try:
                        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                        s.bind((source, 0))
                        s.settimeout(1)
                        s.connect(("127.0.0.1", admin))
                        s.setblocking(False)
                    except OSError as e:
                        answers[f"connect: {e}"] = answers.get(f"connect: {e}", 0) + 1
                        continue
                    opened += 1
                    sel.register(s, selectors.EVENT_READ, i)
                    slot = slots[i] = (s, now, 0)
                s, t0, sent = slot
                try:
                    s.send(b"GET /metrics HTTP/1.1\r\nX-Slow: "[sent:sent + 1] or b"a")
                    slots[i] = (s, t0, sent + 1)
                except OSError:
                    pass
        for key, _ in sel.select(timeout=max(0.0, min(0.1, next_tick - time.monotonic()))):
            i = key.data
            s, t0, sent = slots[i]
            try:
                got = s.recv(4096)
            except OSError:
                got = b""
            status = got.split(b"\r\n", 1)[0].decode(errors="replace") or "closed without an answer"
            status = " ".join(status.split(" ")[1:2]) or status
            answers[status] = answers.get(status, 0) + 1
            lifetimes.append((status, time.monotonic() - t0))
            sel.unregister(s)
            s.close()
            slots[i] = None
    still_open = [time.monotonic() - slot[1] for slot in slots if slot is not None]
    for slot in slots:
        if slot is not None:
            slot[0].close()
    probe.stop.set()
    probe.join(5)
    ms = sorted(t for _, t in probe.results)
    cut = [t for st, t in lifetimes if st == "408"]
    record = {"connections": k, "secs": secs, "source": source, "opened": opened, "answers": answers,
              "cut_408_after_s": {"min": round(min(cut, default=0), 2), "max": round(max(cut, default=0), 2)},
              "longest_lived_s": round(max([t for _, t in lifetimes] + still_open, default=0), 2),
              "probe": {"gets": len(ms), "ok": sum(1 for st, _ in probe.results if st.startswith("HTTP/1.1 200")),
                        "p50_ms": round(ms[len(ms) // 2], 2) if ms else None,
                        "max_ms": round(ms[-1], 2) if ms else None},
              "rss": sampler.finish()}
    with open(out, "w") as f:
        json.dump(record, f, indent=1)
    return 0


# ---------------------------------------------------------------------------------------------------------------
# The verdict


def delta(out, phase, key):
    """How much a /metrics series (summed over its labels when `key` ends in '{') grew in phase `phase`."""
    def total(m):
        return sum(v for k, v in (m or {}).items() if k == key or (key.endswith("{") and k.startswith(key)))
    a = benchlib.read_json_or_none(os.path.join(out, f"metrics-{phase}-before.json"))
    b = benchlib.read_json_or_none(os.path.join(out, f"metrics-{phase}-after.json"))
    return int(total(b) - total(a))


def gauge(out, name):
    """sipedge_connections (all workers, all states) in OUT/NAME.json."""
    m = benchlib.read_json_or_none(os.path.join(out, f"{name}.json")) or {}
    return int(sum(v for k, v in m.items() if k.startswith("sipedge_connections{")))


def row_c(out, n):
    """(rows, summary, pass) of the zero-window readers beside normal clients."""
    zw = benchlib.read_json_or_none(os.path.join(out, "zero-window.json")) or {}
    base = benchlib.read_json_or_none(os.path.join(out, "req-baseline.json"))
    norm = benchlib.read_json_or_none(os.path.join(out, "req-zw-normal.json"))
    ready = zw.get("ready", {})
    closers = ready.get("closer", 0)
    hoarders = ready.get("hoarder", 0) + ready.get("hoarder cut while sending", 0)
    aborted = delta(out, "c", "sipedge_close_aborted_total{")
    slow = delta(out, "c", "sipedge_slow_consumers_total{")
    rss = zw.get("rss", {})
    growth_mib = (rss.get("peak_kib", 0) - rss.get("first_kib", 0)) / 1024
    bound_mib = n * SEND_QUEUE_LIMIT / (1 << 20)
    left = gauge(out, "metrics-c-held") - gauge(out, "metrics-c-before")
    p50 = [benchlib.latency(j, "MESSAGE", "p50_us") for j in (base, norm)]
    ratio = p50[1] / max(p50[0], 1)
    ok = (base is not None and norm is not None and closers + hoarders == n
          and aborted >= closers and slow >= hoarders and left <= 0
          and growth_mib <= bound_mib and benchlib.failed(norm) == 0 and ratio <= 2.0)
    rows = [
        ("c) zero-window readers", f"{n} clients (127.0.0.30-37)",
         f"{closers} closing with {CLOSER_MESSAGES * BODY // 1000} KB queued: /metrics close_aborted {aborted}; "
         f"{hoarders} with {HOARDER_MESSAGES * BODY // 1000} KB ({ready.get('hoarder cut while sending', 0)} cut while "
         f"still sending): slow_consumers {slow}; "
         f"{left} still open on the server before the clients closed"),
        ("", "server RSS", f"{rss.get('first_kib', 0) // 1024} MiB -> peak {rss.get('peak_kib', 0) // 1024} MiB "
         f"(+{growth_mib:.0f} MiB, bound {bound_mib:.0f} MiB = {n} x 1 MiB send queue), "
         f"after {rss.get('last_kib', 0) // 1024} MiB"),
        ("", "normal clients", f"MESSAGE {benchlib.messages_sent(norm)} at {benchlib.rate(norm):.0f}/s, p50 "
         f"{p50[0]} -> {p50[1]} us ({ratio:.2f}x), p99 {benchlib.latency(norm, 'MESSAGE', 'p99_us')} us, "
         f"{benchlib.failed(norm)} failed"),
        ("", "result", benchlib.verdict(ok)),
    ]
    summary = {"pass": ok, "clients": n, "closers_ready": closers, "hoarders_ready": hoarders,
               "attack_errors": zw.get("errors", {}), "metrics_close_aborted": aborted,
               "metrics_slow_consumers": slow, "connections_left_open": left, "rss": rss,
               "rss_growth_mib": round(growth_mib, 1), "rss_bound_mib": bound_mib, "baseline_p50_us": p50[0],
               "with_attack_p50_us": p50[1], "p50_ratio": round(ratio, 3), "normal_failed": benchlib.failed(norm)}
    return rows, summary, ok


def row_d(out, k, secs):
    """(rows, summary, pass) of the trickling admin clients."""
    tr = benchlib.read_json_or_none(os.path.join(out, "trickle.json")) or {}
    probe, answers, rss = tr.get("probe", {}), tr.get("answers", {}), tr.get("rss", {})
    growth_mib = (rss.get("peak_kib", 0) - rss.get("first_kib", 0)) / 1024
    bound_mib = ADMIN_THREADS * (ADMIN_STACK + ADMIN_HEAD) / (1 << 20)
    ok = (probe.get("gets", 0) > 0 and probe.get("ok") == probe.get("gets")
          and (probe.get("max_ms") or 1e9) <= 100
          and answers.get("408", 0) > 0
          and tr.get("longest_lived_s", 1e9) <= ADMIN_HEAD_DEADLINE + 1.5
          and growth_mib <= bound_mib)
    shown = ", ".join(f"{v} {k}" for k, v in sorted(answers.items()))
    rows = [
        ("d) trickling admin clients", f"{k} connections (127.0.0.40)",
         f"1 byte/s for {secs} s, {tr.get('opened', 0)} opened: {shown}; 408 after "
         f"{tr.get('cut_408_after_s', {}).get('min')}-{tr.get('cut_408_after_s', {}).get('max')} s, "
         f"none held over {tr.get('longest_lived_s')} s"),
        ("", "/metrics probe", f"{probe.get('ok')}/{probe.get('gets')} answered 200, p50 {probe.get('p50_ms')} ms, "
         f"max {probe.get('max_ms')} ms"),
        ("", "server RSS", f"{rss.get('first_kib', 0) / 1024:.1f} -> peak {rss.get('peak_kib', 0) / 1024:.1f} MiB "
         f"(+{growth_mib:.1f} MiB, bound {bound_mib:.1f} MiB = {ADMIN_THREADS} x (256 KiB + 8 KiB head))"),
        ("", "result", benchlib.verdict(ok)),
    ]
    summary = {"pass": ok, "connections": k, "secs": secs, "opened": tr.get("opened"), "answers": answers,
               "cut_408_after_s": tr.get("cut_408_after_s"), "longest_lived_s": tr.get("longest_lived_s"),
               "probe": probe, "rss": rss, "rss_growth_mib": round(growth_mib, 2), "rss_bound_mib": bound_mib}
    return rows, summary, ok


def table(out, n, k, secs):
    """Print rows c) and d); write OUT/flood-cd.json; the exit status."""
    c_rows, c_summary, c_ok = row_c(out, n)
    d_rows, d_summary, d_ok = row_d(out, k, secs)
    rows = c_rows + d_rows
    w0, w1 = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    with open(os.path.join(out, "flood-cd.json"), "w") as f:
        json.dump({"zero_window": c_summary, "trickling_admin": d_summary}, f, indent=1)
    print("\n".join(f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]}" for r in rows))
    return 0 if c_ok and d_ok else 1


def main(argv):
    """Run one command; usage errors exit 2."""
    commands = {
        "zero-window": (8, lambda a: zero_window(int(a[0]), int(a[1]), int(a[2]), int(a[3]), float(a[4]),
                                                 float(a[5]), a[6].split(","), a[7])),
        "trickle": (6, lambda a: trickle(int(a[0]), int(a[1]), int(a[2]), float(a[3]), a[4], a[5])),
        "table": (4, lambda a: table(a[0], int(a[1]), int(a[2]), int(a[3]))),
    }
    if len(argv) < 1 or argv[0] not in commands or len(argv) - 1 != commands[argv[0]][0]:
        print(__doc__, file=sys.stderr)
        return 2
    return commands[argv[0]][1](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
