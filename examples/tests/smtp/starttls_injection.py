#!/usr/bin/python3
"""STARTTLS command injection (CVE-2011-0411 family), for the end-to-end tests.

Usage: starttls_injection.py HOST PORT CAFILE

Sends STARTTLS with more commands behind it in the same packet, completes the TLS handshake
(certificate verified for "localhost"), then probes whether the injected plaintext commands
were executed. Prints one JSON object with every step's reply; the Rust test asserts.
"""

import json
import socket
import ssl
import sys

TIMEOUT = 10
INJECTED = (b"EHLO evil.test\r\n"
            b"MAIL FROM:<evil@other.org>\r\n"
            b"RCPT TO:<tom@example.com>\r\n")


class Lines:
    """Reads SMTP replies from a socket without reading past them."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise EOFError("connection closed; got %r" % (self.buf,))
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode("utf-8", "replace"))
            if len(line) < 4 or line[3:4] != b"-":
                return [int(lines[0][:3]), "\n".join(l[4:] for l in lines)]

    def cmd(self, line):
        self.sock.sendall(line + b"\r\n")
        return self.reply()


def main():
    host, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    out = {}
    plain = socket.create_connection((host, port), timeout=TIMEOUT)
    r = Lines(plain)
    out["greeting"] = r.reply()
    out["ehlo"] = r.cmd(b"EHLO client.test")
    plain.sendall(b"STARTTLS\r\n" + INJECTED)
    out["starttls"] = r.reply()
    # Nothing may follow the 220 in plaintext (replies to the injected commands would).
    out["plaintext_after_220"] = r.buf.decode("latin-1")
    ctx = ssl.create_default_context(cafile=cafile)
    tls = ctx.wrap_socket(plain, server_hostname="localhost")
    out["tls_version"] = tls.version()
    # Replies to the injected commands, if the server ran them, would arrive unasked now.
    tls.settimeout(0.5)
    try:
        out["unsolicited"] = tls.recv(4096).decode("latin-1")
    except (socket.timeout, ssl.SSLError):
        out["unsolicited"] = ""
    tls.settimeout(TIMEOUT)
    t = Lines(tls)
    # The injected MAIL must not have opened a transaction ...
    out["rcpt_without_mail"] = t.cmd(b"RCPT TO:<tom@example.com>")
    # ... and the injected EHLO must not count: the session starts over (RFC 3207 4.2).
    out["mail_without_ehlo"] = t.cmd(b"MAIL FROM:<a@other.org>")
    out["ehlo_after_tls"] = t.cmd(b"EHLO client.test")
    out["mail"] = t.cmd(b"MAIL FROM:<a@other.org>")
    out["rcpt"] = t.cmd(b"RCPT TO:<tom@example.com>")
    out["data"] = t.cmd(b"DATA")
    out["message"] = t.cmd(b"Subject: after starttls\r\n\r\nhello over TLS\r\n.")
    out["quit"] = t.cmd(b"QUIT")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
