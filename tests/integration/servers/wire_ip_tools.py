#!/usr/bin/python3
"""Helpers for test_wire_ip.sh (the IPv4 option, docs/wire-format.md).

Usage (Debian's /usr/bin/python3, standard library only):
  wire_ip_tools.py serve ADDR PORT DIR
        HTTP/1.1 keep-alive server: GET /NAME sends DIR/NAME; POST/PUT
        /upload answers "<sha256 hex> <length>" of the body it read.
  wire_ip_tools.py send-opt ADDR PORT LAYOUT TRACE_ID SPAN_ID [COUNT]
        COUNT (default 3) GET / requests, each on a new connection whose
        every packet carries an IPv4 option set with
        setsockopt(IP_OPTIONS): tracewire's option with TRACE_ID (32 hex)
        and SPAN_ID (16 hex), laid out as LAYOUT:
          first  NOP NOP NOP then the option: where tracewire puts it
          later  the option first, then NOP padding (any other place)
        Prints the status line of each response.
  wire_ip_tools.py post ADDR PORT SIZE...
        for each SIZE one POST /upload/SIZE on a new connection, the whole
        request (head and body) exactly SIZE bytes in one send (so its first
        segment is a full one, or a GSO packet, as SIZE says); checks the
        server's sha256 of the body. Prints "SIZE ok" per request.
  wire_ip_tools.py pcap FILE
        reads a tcpdump -w file (Ethernet or Linux cooked) and prints
        "packets N ihl_over_5 N tw_option N" (IPv4 packets; those with
        options; those carrying tracewire's option, type 0x9e len 29 "tw").
"""

import hashlib
import os
import socket
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TW_TYPE, TW_LEN = 0x9E, 29


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    root = "."

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        name = os.path.basename(self.path.split("?")[0])
        path = os.path.join(self.root, name)
        if not name or not os.path.isfile(path):
            body = b"hello from wire_ip_tools\n"
            self.send_response(200 if self.path == "/" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        size = os.path.getsize(path)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        with open(path, "rb") as f:
            while True:
                chunk = f.read(1 << 16)
                if not chunk:
                    break
                self.wfile.write(chunk)

    def do_POST(self):
        left = int(self.headers.get("Content-Length") or 0)
        h, n = hashlib.sha256(), 0
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
            left -= len(chunk)
        body = f"{h.hexdigest()} {n}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_POST


def serve(addr, port, root):
    Handler.root = root

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = Server((addr, int(port)), Handler)
    print(f"wire_ip_tools serving {root} on {addr} port {port}", flush=True)
    srv.serve_forever()


def tw_option(trace_id, span_id, flags=1):
    return bytes([TW_TYPE, TW_LEN, 0x74, 0x77, flags]) + bytes.fromhex(trace_id) + bytes.fromhex(span_id)


def send_opt(addr, port, layout, trace_id, span_id, count="3"):
    opt = tw_option(trace_id, span_id)
    if layout == "first":
        opts = bytes([1, 1, 1]) + opt
    elif layout == "later":
        opts = opt + bytes([1, 1, 1])
    else:
        sys.exit(f"send-opt: layout {layout!r}: first or later")
    assert len(opts) == 32
    for _ in range(int(count)):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, opts)
        s.settimeout(10)
        s.connect((addr, int(port)))
        s.sendall(f"GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        print(data.split(b"\r\n", 1)[0].decode(errors="replace"), flush=True)


def post(addr, port, *sizes):
    for size in sizes:
        size = int(size)
        head = f"POST /upload/{size} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n"
        head += "Content-Type: application/octet-stream\r\nContent-Length: "
        # Content-Length's own digits count: settle on a consistent length
        n = size - len(head) - 4
        while n > 0 and len(head) + len(str(n)) + 4 + n != size:
            n = size - len(head) - len(str(n)) - 4
        if n <= 0:
            sys.exit(f"post: size {size} is too small")
        body = os.urandom(n)
        req = f"{head}{n}\r\n\r\n".encode() + body
        assert len(req) == size
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(20)
        s.connect((addr, int(port)))
        s.sendall(req)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        want = f"{hashlib.sha256(body).hexdigest()} {n}".encode()
        if not data.startswith(b"HTTP/1.1 200") or not data.endswith(want):
            sys.exit(f"post: size {size}: unexpected answer {data[-120:]!r}")
        print(f"{size} ok", flush=True)


def ip_options(pkt):
    """(ihl, options bytes) of the IPv4 header at pkt, or None."""
    if len(pkt) < 20 or pkt[0] >> 4 != 4:
        return None
    ihl = pkt[0] & 0xF
    return ihl, pkt[20:ihl * 4]


def has_tw(opts):
    i = 0
    while i < len(opts):
        t = opts[i]
        if t == 0:
            return False
        if t == 1:
            i += 1
            continue
        if i + 1 >= len(opts):
            return False
        n = opts[i + 1]
        if n < 2 or i + n > len(opts):
            return False
        if t == TW_TYPE and n == TW_LEN and opts[i + 2:i + 4] == b"tw":
            return True
        i += n
    return False


def pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        print("packets 0 ihl_over_5 0 tw_option 0")
        return
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    off, total, over, tw = 24, 0, 0, 0
    while off + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[off + 8:off + 12])[0]
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if linktype == 1 and len(frame) >= 14 and frame[12:14] == b"\x08\x00":
            pkt = frame[14:]
        elif linktype == 113 and len(frame) >= 16 and frame[14:16] == b"\x08\x00":
            pkt = frame[16:]
        else:
            continue
        r = ip_options(pkt)
        if r is None:
            continue
        total += 1
        if r[0] > 5:
            over += 1
            if has_tw(r[1]):
                tw += 1
    print(f"packets {total} ihl_over_5 {over} tw_option {tw}")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "serve" and len(args) == 3:
        serve(*args)
    elif cmd == "send-opt" and len(args) in (5, 6):
        send_opt(*args)
    elif cmd == "post" and len(args) >= 3:
        post(*args)
    elif cmd == "pcap" and len(args) == 1:
        pcap(args[0])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
