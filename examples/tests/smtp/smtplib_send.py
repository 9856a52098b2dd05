#!/usr/bin/python3
"""One mail transaction with the standard library's smtplib, for the end-to-end tests.

Usage: smtplib_send.py REQUEST_JSON

REQUEST_JSON:
  host, port        where to connect
  security          "plain" | "starttls" | "ssl" (implicit TLS)
  cafile            the server's certificate (verified, host name included); omit to not verify
  auth              optional {"mechanism": "PLAIN"|"LOGIN", "user", "password",
                    "initial_response": bool}
  sender, recipients, message (text, sent as UTF-8 bytes with CRLF kept as given)
  mail_options      e.g. ["SMTPUTF8"]

Prints one JSON object: {"ok": true, "refused": {rcpt: [code, text]}, "data": [code, text],
"features": [...], "auth": [code, text]} or {"ok": false, "exception": NAME, "code": N,
"text": "...", "recipients": {...}, "stage": "..."}. Exits 0 either way; the Rust test asserts.
"""

import json
import smtplib
import ssl
import sys

TIMEOUT = 10
HELO = "client.test"


def tls_context(request):
    cafile = request.get("cafile")
    if cafile:
        return ssl.create_default_context(cafile=cafile)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def text(resp):
    if isinstance(resp, bytes):
        return resp.decode("utf-8", "replace")
    return str(resp)


def main():
    request = json.loads(sys.argv[1])
    host, port = request["host"], request["port"]
    security = request.get("security", "plain")
    out = {"ok": False}
    stage = "connect"
    try:
        if security == "ssl":
            smtp = smtplib.SMTP_SSL(host, port, local_hostname=HELO, timeout=TIMEOUT,
                                    context=tls_context(request))
        else:
            smtp = smtplib.SMTP(host, port, local_hostname=HELO, timeout=TIMEOUT)
        # sendmail() does not return the reply to the final dot: keep it.
        data_reply = {}
        original_data = smtp.data

        def data(msg):
            reply = original_data(msg)
            data_reply["reply"] = reply
            return reply

        smtp.data = data
        stage = "ehlo"
        smtp.ehlo()
        if security == "starttls":
            stage = "starttls"
            smtp.starttls(context=tls_context(request))
            smtp.ehlo()
        out["features"] = sorted(smtp.esmtp_features.keys())
        auth = request.get("auth")
        if auth:
            stage = "auth"
            smtp.user, smtp.password = auth["user"], auth["password"]
            mechanism = auth["mechanism"].upper()
            authobject = getattr(smtp, "auth_" + mechanism.lower())
            code, resp = smtp.auth(mechanism, authobject,
                                   initial_response_ok=auth.get("initial_response", True))
            out["auth"] = [code, text(resp)]
        stage = "sendmail"
        message = request["message"].encode("utf-8")
        refused = smtp.sendmail(request["sender"], request["recipients"], message,
                                mail_options=request.get("mail_options", []))
        out["refused"] = {k: [c, text(t)] for k, (c, t) in refused.items()}
        if "reply" in data_reply:
            code, resp = data_reply["reply"]
            out["data"] = [code, text(resp)]
        stage = "quit"
        smtp.quit()
        out["ok"] = True
    except smtplib.SMTPRecipientsRefused as e:
        out.update(exception="SMTPRecipientsRefused",
                   recipients={k: [c, text(t)] for k, (c, t) in e.recipients.items()})
    except smtplib.SMTPResponseException as e:
        out.update(exception=type(e).__name__, code=e.smtp_code, text=text(e.smtp_error))
    except (smtplib.SMTPException, OSError) as e:
        out.update(exception=type(e).__name__, text=str(e))
    out["stage"] = stage
    print(json.dumps(out))


if __name__ == "__main__":
    main()
