"""Unit tests of tools/benchlib_capture.py (the pcap a HEP collector wrote, held against the node's counters)."""
import os
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib_capture as cap  # noqa: E402


def udp_packet(src, dst, payload):
    """A raw IPv4 packet carrying UDP from port `src` to `dst`."""
    udp = struct.pack(">HHHH", src, dst, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([127, 0, 0, 1]),
                     bytes([127, 0, 0, 1]))
    return ip + udp


def pcap(*packets, link=101):
    """A classic little-endian pcap file of `packets`."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, link)
    for p in packets:
        out += struct.pack("<IIII", 1, 2, len(p), len(p)) + p
    return out


class Capture(unittest.TestCase):
    def test_a_pcap_of_raw_ip_gives_ports_and_payloads(self):
        data = pcap(udp_packet(40000, 8080, b"REGISTER sip:x SIP/2.0\r\n\r\n"),
                    udp_packet(8080, 40000, b"SIP/2.0 200 OK\r\n\r\n"))
        got = cap.read_pcap(data)
        self.assertEqual([(s, d) for s, d, _ in got], [(40000, 8080), (8080, 40000)])
        self.assertEqual([cap.sip_method(p) for _, _, p in got], ["REGISTER", "SIP/2.0"])

    def test_not_sip_and_not_pcap_are_told_apart(self):
        self.assertIsNone(cap.sip_method(b"\r\n\r\n"))
        self.assertIsNone(cap.sip_method(b"GET / HTTP/1.1\r\n"))
        with self.assertRaises(ValueError):
            cap.read_pcap(b"not a pcap file at all, not at all")

    def test_growth_by_label(self):
        before = {'m{method="INVITE"}': 1.0}
        after = {'m{method="INVITE"}': 3.0, 'm{method="BYE"}': 1.0, "other": 9.0}
        self.assertEqual(cap.grown(before, after, "m"), {"INVITE": 2, "BYE": 1})


if __name__ == "__main__":
    unittest.main()
