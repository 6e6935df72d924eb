#!/usr/bin/env python3
"""The Python side of tools/browser/capture.sh: what sngrep wrote to its pcap, held against what the node counted.

  check PCAP BEFORE AFTER TEXT   PCAP: sngrep's pcap of the HEP it received; BEFORE, AFTER: sipedged's /metrics as
                                 JSON (benchlib metrics) around the browser run; TEXT: a string a MESSAGE carried.
                                 Prints one line per check; exit 1 on a miss.
Standard library only.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def read_pcap(data):
    """[(src_port, dst_port, payload bytes)] of a classic little-endian pcap of IPv4 UDP or TCP packets, as raw IP
    (link types 101, 228) or in Ethernet (1)."""
    if len(data) < 24 or data[:4] != b"\xd4\xc3\xb2\xa1":
        raise ValueError("not a classic little-endian pcap file")
    link = struct.unpack_from("<I", data, 20)[0]
    out, at = [], 24
    while at + 16 <= len(data):
        length = struct.unpack_from("<I", data, at + 8)[0]
        frame = data[at + 16:at + 16 + length]
        at += 16 + length
        if link == 1:
            if frame[12:14] != b"\x08\x00":
                continue
            frame = frame[14:]
        elif link not in (101, 228):
            raise ValueError(f"link type {link}")
        if not frame or frame[0] >> 4 != 4:
            continue
        ihl, proto = (frame[0] & 0x0F) * 4, frame[9]
        l4 = frame[ihl:]
        src, dst = struct.unpack_from(">HH", l4, 0)
        if proto == 17:
            out.append((src, dst, l4[8:]))
        elif proto == 6:
            out.append((src, dst, l4[(l4[12] >> 4) * 4:]))
    return out


def sip_method(payload):
    """The method of a SIP request, `SIP/2.0` for a response, None for anything else."""
    first = payload.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    if first.startswith("SIP/2.0 "):
        return "SIP/2.0"
    parts = first.split(" ")
    return parts[0] if len(parts) == 3 and parts[2] == "SIP/2.0" else None


def grown(before, after, prefix):
    """{label value: growth} of the series named `prefix{label="value"}` between two metrics snapshots."""
    out = {}
    for key, value in after.items():
        if key.startswith(prefix + "{"):
            label = key[len(prefix) + 1:-1].split("=", 1)[1].strip('"')
            out[label] = int(value - before.get(key, 0))
    return out


def total(series, prefix):
    """A series summed over its labels."""
    return int(sum(v for k, v in series.items() if k == prefix or k.startswith(prefix + "{")))


def check(pcap_path, before_path, after_path, text):
    """The checks' lines and whether all passed."""
    with open(pcap_path, "rb") as f:
        packets = read_pcap(f.read())
    before, after = benchlib.read_json(before_path), benchlib.read_json(after_path)
    sip = [(s, d, p, sip_method(p)) for s, d, p in packets if sip_method(p)]
    j = benchlib.Judge()

    sent = total(after, "sipedge_capture_sent_total") - total(before, "sipedge_capture_sent_total")
    dropped = total(after, "sipedge_capture_dropped_total") - total(before, "sipedge_capture_dropped_total")
    ws = (total(after, "sipedge_ws_messages_in_total") + total(after, "sipedge_ws_messages_out_total")
          - total(before, "sipedge_ws_messages_in_total") - total(before, "sipedge_ws_messages_out_total"))
    j.check(sent > 0 and dropped == 0 and len(sip) == sent,
        f"sngrep decoded {len(sip)} SIP messages; the node sent {sent} HEP packets, dropped {dropped}"
        f" ({ws} WebSocket messages in and out)")
    # The browsers' requests by method: in the pcap (toward the edge's listener) and as the node counted them.
    counted = {m: n for m, n in grown(before, after, "sipedge_sip_requests_total").items() if n}
    listener = {d for s, d, p, m in sip if m == "REGISTER"}
    seen = {}
    for s, d, p, m in sip:
        if m != "SIP/2.0" and d in listener:
            seen[m] = seen.get(m, 0) + 1
    j.check(seen == counted and {"REGISTER", "MESSAGE", "INVITE", "ACK", "BYE"} <= set(seen),
        f"requests from the browsers by method: in the pcap {dict(sorted(seen.items()))},"
        f" counted by the node {dict(sorted(counted.items()))}")
    carried = [p for s, d, p, m in sip if m == "MESSAGE" and text.encode() in p]
    j.check(len(carried) >= 2, f"the UTF-8 MESSAGE text is in {len(carried)} captured MESSAGEs (each in and out)")
    return j.lines, j.ok


def main(argv):
    """Command line: see the module's doc."""
    if len(argv) == 6 and argv[1] == "check":
        lines, ok = check(*argv[2:])
        print("\n".join(lines))
        return 0 if ok else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
