#!/usr/bin/python3
"""Real-client actions for the access-rule tests: one action per run, one JSON line out.

Usage: client.py ACTION HOST PORT CAFILE [ARGS...]

  imap_login USER PASSWORD          IMAP STARTTLS + LOGIN            {"ok": bool, "text": str}
  imap_subjects USER PASSWORD       LOGIN, SELECT INBOX, FETCH subjects  {"ok", "subjects": [...]}
  pop_login USER PASSWORD           POP3 STLS + USER/PASS            {"ok", "text"}
  smtp_auth USER PASSWORD           submission STARTTLS + AUTH PLAIN {"ok", "code", "text"}
  imap_subjects_as AUTHZID USER PASSWORD
                                    AUTHENTICATE PLAIN acting as AUTHZID, then as imap_subjects
  pop_plain_as AUTHZID USER PASSWORD POP3 STLS + AUTH PLAIN acting as AUTHZID {"ok", "text", "count"}
  smtp_send_as AUTHZID FROM TO SUBJECT USER PASSWORD
                                    submission with AUTH PLAIN acting as AUTHZID
  smtp_send FROM TO[,TO...] SUBJECT [USER PASSWORD]
                                    MX (no auth) or submission (auth) transaction
                                    {"ok", "refused": {rcpt: [code, text]}, "code", "text"}
Exits 0 whatever the server answers; the Rust test asserts on the JSON.
"""

import imaplib
import json
import poplib
import smtplib
import ssl
import sys

TIMEOUT = 15


def out(**kw):
    print(json.dumps(kw))


def ctx(cafile):
    return ssl.create_default_context(cafile=cafile)


def text(v):
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def plain(authzid, user, password):
    return ("%s\0%s\0%s" % (authzid, user, password)).encode()


def subjects_of(m):
    m.select("INBOX")
    typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    subjects = []
    for item in data:
        if isinstance(item, tuple):
            line = text(item[1]).strip()
            subjects.append(line[len("Subject:"):].strip() if line.lower().startswith("subject:") else line)
    return subjects


def main():
    action, host, port, cafile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    args = sys.argv[5:]
    if action == "imap_subjects_as":
        m = imaplib.IMAP4(host, port, timeout=TIMEOUT)
        m.starttls(ssl_context=ctx(cafile))
        try:
            m.authenticate("PLAIN", lambda _: plain(args[0], args[1], args[2]))
        except imaplib.IMAP4.error as e:
            out(ok=False, text=str(e))
            return
        out(ok=True, subjects=subjects_of(m))
        m.logout()
        return
    if action == "pop_plain_as":
        import base64
        p = poplib.POP3(host, port, timeout=TIMEOUT)
        p.stls(context=ctx(cafile))
        try:
            resp = p._shortcmd("AUTH PLAIN " + base64.b64encode(plain(args[0], args[1], args[2])).decode())
            count, _size = p.stat()
            out(ok=True, text=text(resp), count=count)
            p.quit()
        except poplib.error_proto as e:
            out(ok=False, text=text(e.args[0]) if e.args else "")
        return
    if action == "smtp_send_as":
        authzid, sender, rcpt, subject, user, password = args[:6]
        msg = ("From: <%s>\r\nTo: %s\r\nSubject: %s\r\n\r\nbody\r\n" % (sender, rcpt, subject)).encode()
        with smtplib.SMTP(host, port, timeout=TIMEOUT) as s:
            s.starttls(context=ctx(cafile))
            s.ehlo()
            try:
                s.auth("PLAIN", lambda challenge=None: plain(authzid, user, password).decode(), initial_response_ok=True)
            except smtplib.SMTPAuthenticationError as e:
                out(ok=False, code=e.smtp_code, text=text(e.smtp_error), refused={})
                return
            try:
                s.sendmail(sender, [rcpt], msg)
                out(ok=True, refused={})
            except smtplib.SMTPResponseException as e:
                out(ok=False, code=e.smtp_code, text=text(e.smtp_error), refused={})
        return
    if action in ("imap_login", "imap_subjects"):
        m = imaplib.IMAP4(host, port, timeout=TIMEOUT)
        m.starttls(ssl_context=ctx(cafile))
        try:
            typ, data = m.login(args[0], args[1])
        except imaplib.IMAP4.error as e:
            out(ok=False, text=str(e))
            return
        if action == "imap_login":
            out(ok=typ == "OK", text=text(data[0]))
        else:
            out(ok=True, subjects=subjects_of(m))
        m.logout()
    elif action == "pop_login":
        p = poplib.POP3(host, port, timeout=TIMEOUT)
        p.stls(context=ctx(cafile))
        try:
            p.user(args[0])
            resp = p.pass_(args[1])
            out(ok=True, text=text(resp))
            p.quit()
        except poplib.error_proto as e:
            out(ok=False, text=text(e.args[0]) if e.args else "")
    elif action == "smtp_auth":
        with smtplib.SMTP(host, port, timeout=TIMEOUT) as s:
            s.starttls(context=ctx(cafile))
            try:
                code, resp = s.login(args[0], args[1])
                out(ok=True, code=code, text=text(resp))
            except smtplib.SMTPAuthenticationError as e:
                out(ok=False, code=e.smtp_code, text=text(e.smtp_error))
    elif action == "smtp_send":
        sender, rcpts, subject = args[0], args[1].split(","), args[2]
        msg = ("From: <%s>\r\nTo: %s\r\nSubject: %s\r\n\r\nbody of %s\r\n"
               % (sender, ", ".join(rcpts), subject, subject)).encode()
        with smtplib.SMTP(host, port, timeout=TIMEOUT) as s:
            if len(args) > 3:
                s.starttls(context=ctx(cafile))
                s.login(args[3], args[4])
            try:
                refused = s.sendmail(sender, rcpts, msg)
                out(ok=True, refused={k: [v[0], text(v[1])] for k, v in refused.items()})
            except smtplib.SMTPRecipientsRefused as e:
                out(ok=False, refused={k: [v[0], text(v[1])] for k, v in e.recipients.items()})
            except smtplib.SMTPSenderRefused as e:
                out(ok=False, code=e.smtp_code, text=text(e.smtp_error), refused={})
            except smtplib.SMTPResponseException as e:
                out(ok=False, code=e.smtp_code, text=text(e.smtp_error), refused={})
    else:
        raise SystemExit("unknown action " + action)


if __name__ == "__main__":
    main()
