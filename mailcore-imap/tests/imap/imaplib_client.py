"""End-to-end check of the mailcore IMAP server with Python's imaplib.

Usage: imaplib_client.py STARTTLS_PORT IMAPS_PORT CAFILE USER PASSWORD
Exits non-zero (with a traceback) on the first failed expectation.
"""
import imaplib
import ssl
import sys
import time

starttls_port, imaps_port, cafile, user, password = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=cafile)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


# STARTTLS + LOGIN
m = imaplib.IMAP4("localhost", int(starttls_port))
check("LOGINDISABLED" in m.capabilities, "LOGINDISABLED before TLS")
check("STARTTLS" in m.capabilities, "STARTTLS offered")
m.starttls(ssl_context=ctx)
check("LOGINDISABLED" not in m.capabilities, "no LOGINDISABLED after TLS")
typ, _ = m.login(user, password)
check(typ == "OK", "login")

typ, data = m.enable("CONDSTORE")
typ, data = m._untagged_response(typ, data, "ENABLED")
check(typ == "OK" and data[0] == b"CONDSTORE", "enable condstore: %r" % data)

typ, data = m.list()
check(typ == "OK", "list")
listing = b"\n".join(data)
check(b"\\Sent" in listing and b"INBOX" in listing, "special-use listing: %r" % listing)

typ, data = m.select("INBOX")
check(typ == "OK" and int(data[0]) == 3, "select: %r" % data)

typ, data = m.fetch("2", "(BODYSTRUCTURE)")
check(typ == "OK" and b"\"MIXED\"" in data[0], "bodystructure: %r" % data)
typ, data = m.fetch("2", "(BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
check(typ == "OK", "fetch sections")
parts = [d for d in data if isinstance(d, tuple)]
check(parts[0][1] == b"hello world", "BODY[1]: %r" % (parts[0],))
check(b"application/pdf" in parts[1][1], "BODY[2.MIME]: %r" % (parts[1],))
check(parts[2][1] == b"Subject: multipart\r\n\r\n", "HEADER.FIELDS: %r" % (parts[2],))
typ, data = m.fetch("1:*", "(FLAGS)")
check(all(b"\\Seen" not in d for d in data), "BODY.PEEK does not set \\Seen")

# Search in Chinese (GBK-encoded subject), CHARSET UTF-8 with a literal.
m.literal = "发票".encode("utf-8")
typ, data = m.search("UTF-8", "SUBJECT")
check(typ == "OK" and data[0].split() == [b"3"], "chinese search: %r" % data)
m.literal = "中文正文".encode("utf-8")
typ, data = m.uid("SEARCH", "CHARSET", "UTF-8", "BODY")
check(typ == "OK" and len(data[0].split()) == 1, "chinese body search: %r" % data)
typ, data = m.search(None, "OR", "FROM", "alice", "LARGER", "100000")
check(data[0].split() == [b"1"], "or search: %r" % data)

# Store flags.
typ, data = m.store("1", "+FLAGS", "(\\Flagged $Label1)")
check(typ == "OK" and b"\\Flagged" in data[0] and b"$Label1" in data[0], "store: %r" % data)
typ, data = m.search(None, "FLAGGED")
check(data[0].split() == [b"1"], "flagged search")

# Append with a literal (and a date), on a second connection over implicit TLS.
m2 = imaplib.IMAP4_SSL("localhost", int(imaps_port), ssl_context=ctx)
m2.login(user, password)
typ, data = m2.append("Archive", "(\\Seen)", imaplib.Time2Internaldate(time.time()),
                      b"Subject: appended\r\nFrom: x@example.com\r\n\r\nappended body\r\n")
check(typ == "OK" and b"APPENDUID" in data[0], "append: %r" % data)

# IDLE: the first connection idles, the second appends to INBOX.
tag = m._new_tag()
m.send(tag + b" IDLE\r\n")
line = m.readline()
check(line.startswith(b"+"), "idle continuation: %r" % line)
m2.append("INBOX", None, None, b"Subject: during idle\r\n\r\nx\r\n")
line = m.readline()
check(line.strip() == b"* 4 EXISTS", "idle wakes with EXISTS: %r" % line)
m.send(b"DONE\r\n")
line = m.readline()
check(line.startswith(tag + b" OK"), "idle done: %r" % line)

# Move (UIDPLUS COPYUID and EXPUNGE).
typ, data = m.uid("MOVE", "1", "Archive")
check(typ == "OK", "move: %r" % data)
typ, data = m.select("INBOX")
check(int(data[0]) == 3, "after move: %r" % data)
typ, data = m.status("Archive", "(MESSAGES UIDNEXT)")
check(b"MESSAGES 2" in data[0], "status: %r" % data)

m.create("Projects/2024")
typ, data = m.list('""', "Projects*")
check(any(b"\\HasChildren" in d and b"Projects\"" in d for d in data), "children: %r" % data)
check(m.rename("Projects/2024", "Projects/2025")[0] == "OK", "rename")
check(m.delete("Projects/2025")[0] == "OK", "delete")

# Extensions, through imaplib's own methods where it has them.
typ, data = m.capability()
caps = data[0].split()
for cap in (b"UNSELECT", b"STATUS=SIZE", b"ESEARCH", b"LIST-EXTENDED", b"LIST-STATUS",
            b"CONDSTORE", b"QRESYNC", b"QUOTA", b"QUOTA=RES-STORAGE", b"BINARY"):
    check(cap in caps, "capability %r: %r" % (cap, caps))
typ, data = m.status("INBOX", "(MESSAGES SIZE)")
check(typ == "OK" and b"SIZE " in data[0], "status size: %r" % data)
typ, data = m._simple_command("SEARCH", "RETURN", "(MIN MAX COUNT)", "ALL")
typ, data = m._untagged_response(typ, data, "ESEARCH")
check(typ == "OK" and b"MIN 1 MAX 3 COUNT 3" in data[0], "esearch: %r" % data)
typ, data = m._simple_command("UID", "SEARCH", "RETURN", "()", "ALL")
typ, data = m._untagged_response(typ, data, "ESEARCH")
check(typ == "OK" and b" UID ALL " in data[0], "uid esearch: %r" % data)
typ, data = m.list('""', '"INBOX" RETURN (SUBSCRIBED STATUS (MESSAGES UIDNEXT))')
check(typ == "OK" and b"INBOX" in data[0], "list-status: %r" % data)
typ, data = m._untagged_response(typ, data, "STATUS")
check(data[0] is not None and b"MESSAGES 3" in data[0], "list-status STATUS: %r" % data)
typ, data = m.fetch("1", "(MODSEQ FLAGS)")
check(typ == "OK" and b"MODSEQ (" in data[0], "fetch modseq: %r" % data)
typ, data = m.store("1", "-FLAGS", "($Label1)")
check(typ == "OK" and b"MODSEQ (" in data[0], "store after CONDSTORE: %r" % data)
# Message 1 is now the multipart one (the first was moved to Archive).
typ, data = m.fetch("1", "(BINARY.PEEK[2] BINARY.SIZE[2])")
check(typ == "OK" and data[0][1] == b"%PDF" and b"BINARY.SIZE[2] 4" in data[1],
      "binary: %r" % data)
typ, data = m.getquotaroot("INBOX")
check(typ == "OK" and data[0][0] == b'"INBOX"', "getquotaroot: %r" % data)
typ, data = m.setquota('""', "(STORAGE 10)")
check(typ == "NO", "setquota must be refused: %r" % data)
typ, data = m.unselect()
check(typ == "OK", "unselect: %r" % data)
typ, data = m.select("INBOX")
check(typ == "OK" and int(data[0]) == 3, "select after unselect: %r" % data)

# QRESYNC on the second connection: UID 1 was moved out of INBOX, so a resync from MODSEQ 1
# reports it vanished.
typ, data = m2.enable("QRESYNC")
typ, data = m2._untagged_response(typ, data, "ENABLED")
check(typ == "OK" and data[0] == b"QRESYNC", "enable qresync: %r" % data)
typ, data = m2.status("INBOX", "(UIDVALIDITY)")
uidvalidity = data[0].split(b"UIDVALIDITY ")[1].rstrip(b")").decode()
typ, data = m2._simple_command("SELECT", "INBOX", "(QRESYNC (%s 1))" % uidvalidity)
typ, data = m2._untagged_response(typ, data, "VANISHED")
check(typ == "OK" and data[0] == b"(EARLIER) 1", "qresync select: %r" % data)

m.close()
m.logout()
m2.logout()
print("imaplib ok")
