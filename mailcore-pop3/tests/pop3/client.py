"""POP3 client scenarios for mailcore-pop3's end-to-end tests, using only Python's poplib.

usage: client.py SCENARIO HOST PLAIN_PORT TLS_PORT CAFILE USER PASSWORD
Prints one JSON object with what the server answered; message bytes are base64.
"""

import base64
import json
import poplib
import ssl
import sys
import time

scenario, host, plain_port, tls_port, cafile, user, password = sys.argv[1:8]
plain_port, tls_port = int(plain_port), int(tls_port)
context = ssl.create_default_context(cafile=cafile)
result = {}


def b64(data):
    return base64.b64encode(data).decode()


def text(resp):
    return resp.decode(errors="replace")


def whole(lines):
    """The message as the client reassembles it (poplib already un-stuffed the dots)."""
    return b"\r\n".join(lines) + b"\r\n"


def login_tls(retries=50):
    """Logs in over implicit TLS, retrying while the maildrop is still locked."""
    for _ in range(retries):
        p = poplib.POP3_SSL(host, tls_port, context=context, timeout=10)
        p.user(user)
        try:
            result.setdefault("pass", text(p.pass_(password)))
            return p
        except poplib.error_proto as e:
            if b"[IN-USE]" not in e.args[0]:
                raise
            result["in_use_seen"] = True
            p.close()
            time.sleep(0.1)
    raise RuntimeError("maildrop stayed locked")


if scenario == "implicit":
    p = poplib.POP3_SSL(host, tls_port, context=context, timeout=10)
    result["welcome"] = text(p.getwelcome())
    result["capa"] = sorted(p.capa().keys())
    result["user"] = text(p.user(user))
    result["pass"] = text(p.pass_(password))
    result["stat"] = list(p.stat())
    resp, lines, _ = p.list()
    result["list"] = [text(l) for l in lines]
    resp, lines, _ = p.uidl()
    result["uidl"] = [text(l) for l in lines]
    result["uidl_1"] = text(p.uidl(1))
    resp, lines, octets = p.retr(1)
    result["retr_resp"] = text(resp)
    result["retr_1"] = b64(whole(lines))
    resp, lines, _ = p.top(2, 1)
    result["top_2_1"] = b64(whole(lines))
    result["dele"] = text(p.dele(1))
    result["stat_after_dele"] = list(p.stat())
    result["quit"] = text(p.quit())
elif scenario == "stls":
    p = poplib.POP3(host, plain_port, timeout=10)
    result["capa_before"] = sorted(p.capa().keys())
    try:
        p.user(user)
        result["user_before"] = "accepted"
    except poplib.error_proto as e:
        result["user_before"] = text(e.args[0])
    result["stls"] = text(p.stls(context))
    result["capa_after"] = sorted(p.capa().keys())
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    result["auth"] = text(p._shortcmd("AUTH PLAIN " + token))
    result["stat"] = list(p.stat())
    result["quit"] = text(p.quit())
elif scenario == "drop":
    p = login_tls()
    result["stat_first"] = list(p.stat())
    result["dele"] = text(p.dele(1))
    result["dele2"] = text(p.dele(2))
    # Drop the connection without QUIT.
    p.sock.shutdown(2)
    p.close()
    p = login_tls()
    result["stat_second"] = list(p.stat())
    result["quit"] = text(p.quit())
elif scenario == "refused":
    p = poplib.POP3_SSL(host, tls_port, context=context, timeout=10)
    p.user(user)
    try:
        p.pass_(password)
        result["pass"] = "accepted"
    except poplib.error_proto as e:
        result["pass"] = text(e.args[0])
    result["quit"] = text(p.quit())
else:
    raise SystemExit("unknown scenario " + scenario)

print(json.dumps(result))
