#!/usr/bin/env python3
"""Generate the known-answer corpus for mailcore's RFC 5322 / MIME parser.

Every case is ``NAME.eml`` (raw message bytes) plus ``NAME.json`` (expected values of
``Summary::of``, subset-matched by ``../corpus.rs``).

Independence: the encoded bytes are produced with Python's own codecs (``str.encode``,
``base64``, ``binascii`` quoted-printable, ``urllib.parse`` percent-encoding) from the original
Unicode strings, and the expected values are written from those original strings -- never from
mailcore's output.  Every encoded header value and transfer-encoded body is also decoded back with
Python's ``email.header`` / ``binascii`` / ``base64`` before anything is written.

Expected-JSON keys (see corpus.rs for the authoritative list):
  subject, from, to, cc, date, message_id, parts, text, html   compared exactly
  warnings_nonempty                                            true/false: is "warnings" non-empty
  from_addresses, to_addresses, cc_addresses                   only the "address" values, in order
  keys starting with "_"                                       documentation, ignored

Usage:
  python3 generate.py              (re)write the corpus next to this script (deterministic)
  python3 generate.py --check      exit 1 unless the files on disk are exactly what would be written
  python3 generate.py --crosscheck also print how Python's own `email` package reads each case
                                   (diagnostic only; Python is lenient/strict in its own ways)
  python3 generate.py --whatwg     also decode every charset vector with node's TextDecoder
                                   (WHATWG, like encoding_rs); needs `node` with full ICU
"""

import base64
import binascii
import email
import email.header
import email.policy
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
CRLF = b"\r\n"
LF = b"\n"

CASES = {}  # name -> (raw bytes, expected dict)
VECTORS = []  # (charset label, encoded bytes, expected unicode) for the optional WHATWG check
# --crosscheck: Python's email package recurses per nesting level and cannot read this one
CROSSCHECK_SKIP = {"nesting_bomb"}


# --------------------------------------------------------------------------------------------
# low-level helpers
# --------------------------------------------------------------------------------------------


def add_case(name, raw, expected):
    assert name not in CASES, name
    assert isinstance(raw, bytes)
    json.dumps(expected)  # must be serialisable
    CASES[name] = (raw, expected)


def vec(label, data, text):
    """Record a (charset, bytes, text) triple and check it with Python's codec right away."""
    assert data.decode(pycodec(label)) == text, (label, data, text)
    if label.lower() in ("iso-8859-1", "us-ascii"):
        # WHATWG (encoding_rs) decodes these labels as windows-1252: keep out of 0x80-0x9F
        assert not any(0x80 <= b <= 0x9F for b in data), (label, text)
    VECTORS.append((label, data, text))


def pycodec(label):
    return {"ks_c_5601-1987": "cp949", "gb2312": "gbk"}.get(label.lower(), label.lower())


def addr(address, name=None):
    return {"name": name, "address": address}


Q_SAFE = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")


def q_encode(data):
    """RFC 2047 'Q' encoding, restricted to the characters allowed in a phrase."""
    out = []
    for b in data:
        if b == 0x20:
            out.append("_")
        elif b in Q_SAFE:
            out.append(chr(b))
        else:
            out.append("=%02X" % b)
    return "".join(out)


def ew_bytes(data, label, enc="B"):
    """One encoded word from raw bytes (may deliberately split a multibyte character)."""
    if enc.upper() == "B":
        payload = base64.b64encode(data).decode("ascii")
    else:
        payload = q_encode(data)
    return "=?%s?%s?%s?=" % (label, enc, payload)


def encoded_words(text, label, codec, enc="B", limit=75):
    """Encode `text` as RFC 2047 words of at most `limit` chars, split at character boundaries.

    Each word is encoded on its own, so for stateful charsets (ISO-2022-JP) every word starts and
    ends in ASCII state, exactly like real mail user agents do it.
    """
    words, chunk = [], ""
    for ch in text:
        cand = chunk + ch
        if chunk and len(ew_bytes(cand.encode(codec), label, enc)) > limit:
            words.append(ew_bytes(chunk.encode(codec), label, enc))
            vec(label, chunk.encode(codec), chunk)
            chunk = ch
        else:
            chunk = cand
    words.append(ew_bytes(chunk.encode(codec), label, enc))
    vec(label, chunk.encode(codec), chunk)
    return words


def ew(text, label, codec=None, enc="B"):
    """Exactly one encoded word (asserts the text fits)."""
    words = encoded_words(text, label, codec or pycodec(label), enc)
    assert len(words) == 1, (text, words)
    return words[0]


def check_header(value, expected):
    """Decode an (unfolded) unstructured header value with Python's email.header."""
    got = ""
    for part, charset in email.header.decode_header(value):
        if isinstance(part, str):
            got += part
        else:
            got += part.decode(pycodec(charset) if charset else "ascii")
    assert got == expected, (value, got, expected)


def pct(data):
    """RFC 2231 percent-encoding of raw bytes."""
    return urllib.parse.quote(data, safe="")


def b64_body(data, eol, width=76):
    enc = base64.b64encode(data)
    lines = [enc[i : i + width] for i in range(0, len(enc), width)] or [b""]
    body = eol.join(lines)
    assert base64.b64decode(body.replace(eol, b"")) == data
    return body


def qp_body(data, eol):
    """Quoted-printable, line by line, with soft breaks using the message's own line ending."""
    out = []
    for line in data.split(eol):
        enc = binascii.b2a_qp(line, quotetabs=False, istext=True, header=False)
        out.append(enc.replace(b"=\n", b"=" + eol))
    body = eol.join(out)
    assert binascii.a2b_qp(body) == data, (body, data)
    return body


def encode_cte(payload, cte, eol):
    c = (cte or "7bit").lower()
    if c == "base64":
        return b64_body(payload, eol)
    if c == "quoted-printable":
        return qp_body(payload, eol)
    assert c in ("7bit", "8bit", "binary"), cte
    if c == "7bit":
        assert all(b < 0x80 for b in payload)
    return payload


def nl(s, eol=CRLF):
    """Text with '\\n' line ends -> str with the wanted line ending (asserts no stray CR)."""
    assert "\r" not in s
    return s.replace("\n", eol.decode("ascii"))


# --------------------------------------------------------------------------------------------
# MIME tree model: rendering + IMAP-style leaf listing
# --------------------------------------------------------------------------------------------


@dataclass
class Leaf:
    headers: list  # header lines (str; "\n " inside a line means a fold)
    body: bytes  # exactly as written in the file
    content_type: str
    charset: object  # expected "charset" (str or None)
    filename: object  # expected "filename" (str or None)
    decoded: bytes  # after Content-Transfer-Encoding decoding


@dataclass
class Multi:
    headers: list  # must include the Content-Type line
    boundary: str
    children: list
    preamble: bytes = b""
    epilogue: bytes = b""
    close: bool = True
    pad: list = field(default_factory=list)  # per-delimiter transport padding (trailing WSP)


@dataclass
class Rfc822:
    headers: list  # the MIME part headers (Content-Type: message/rfc822 or nothing in a digest)
    message: object  # Leaf or Multi; its .headers include the encapsulated message's headers


def with_headers(lines, node):
    node.headers = list(lines) + list(node.headers)
    return node


def header_bytes(lines, eol):
    out = b""
    for line in lines:
        raw = line.encode("utf-8") if isinstance(line, str) else line
        assert b"\r" not in raw
        out += raw.replace(b"\n", eol) + eol
    return out


def render(node, eol=CRLF):
    head = header_bytes(node.headers, eol) + eol
    if isinstance(node, Leaf):
        return head + node.body
    if isinstance(node, Rfc822):
        return head + render(node.message, eol)
    bnd = node.boundary.encode("ascii")
    out = node.preamble
    for i, child in enumerate(node.children):
        pad = node.pad[i] if i < len(node.pad) else b""
        out += b"--" + bnd + pad + eol + render(child, eol) + eol
    if node.close:
        pad = node.pad[len(node.children)] if len(node.pad) > len(node.children) else b""
        out += b"--" + bnd + b"--" + pad + eol + node.epilogue
    return head + out


def leaves(node, path=""):
    """IMAP section numbering of the leaf parts, depth first."""
    if isinstance(node, Leaf):
        return [
            {
                "path": path or "1",
                "content_type": node.content_type,
                "charset": node.charset,
                "filename": node.filename,
                "size": len(node.decoded),
            }
        ]
    if isinstance(node, Rfc822):
        inner = node.message
        if isinstance(inner, Leaf):
            return leaves(inner, path + ".1")
        return leaves(inner, path)
    out = []
    for i, child in enumerate(node.children, 1):
        out += leaves(child, "%s.%d" % (path, i) if path else str(i))
    return out


def text_leaf(text, label=None, cte="7bit", subtype="plain", eol=CRLF, quote=True, codec=None,
              extra=(), ct_extra=""):
    """A text/* leaf: `text` uses '\\n' line ends, converted to `eol` before encoding."""
    s = nl(text, eol)
    codec = codec or (pycodec(label) if label else "ascii")
    payload = s.encode(codec)
    if label:
        vec(label, payload, s)
        cs = '"%s"' % label if quote else label
        ct = "Content-Type: text/%s; charset=%s%s" % (subtype, cs, ct_extra)
    else:
        ct = "Content-Type: text/%s%s" % (subtype, ct_extra)
    headers = [ct]
    if cte is not None:
        headers.append("Content-Transfer-Encoding: %s" % cte)
    headers += list(extra)
    return Leaf(headers, encode_cte(payload, cte, eol), "text/" + subtype,
                label.lower() if label else None, None, payload)


def attachment(ctype, payload, filename, headers, cte="base64", eol=CRLF):
    """A leaf with caller-written Content-Type/-Disposition lines and expected `filename`."""
    hs = list(headers) + ["Content-Transfer-Encoding: %s" % cte]
    return Leaf(hs, encode_cte(payload, cte, eol), ctype, None, filename, payload)


def fake_bytes(tag, n):
    """Deterministic pseudo-binary content of n bytes."""
    out = bytearray(tag)
    x = sum(tag) or 1
    while len(out) < n:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out.append((x >> 16) & 0xFF)
    return bytes(out[:n])


PDF = fake_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", 733)
PNG = fake_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 290)
GIF = fake_bytes(b"GIF89a\x01\x00\x01\x00", 43)
XLS = fake_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 512)


def top(subject=None, from_=None, to=None, cc=None, date=None, msgid=None, mime=True, extra=()):
    """Message header lines in the usual order; None means 'header absent'."""
    hs = []
    for name, value in (("From", from_), ("To", to), ("Cc", cc), ("Subject", subject),
                        ("Date", date), ("Message-ID", msgid)):
        if value is not None:
            hs.append("%s: %s" % (name, value))
    if mime:
        hs.append("MIME-Version: 1.0")
    return hs + list(extra)


def expect(comment, **kw):
    """Expected JSON in a stable, readable key order."""
    order = ["subject", "from", "to", "cc", "from_addresses", "to_addresses", "cc_addresses",
             "date", "message_id", "parts", "text", "html", "warnings_nonempty"]
    out = {"_comment": comment}
    for k in order:
        if k in kw:
            out[k] = kw.pop(k)
    assert not kw, kw
    return out


def msg_case(name, comment, node, eol=CRLF, **exp):
    """Render `node` (whose headers already include the message headers) and register it.

    `parts` defaults to the model's leaf listing; pass parts=... to assert a hand-written list
    (it is checked against the model), or parts=None to leave parts out of the JSON.
    """
    raw = render(node, eol)
    model = leaves(node)
    if "parts" not in exp:
        exp["parts"] = model
    elif exp["parts"] is None:
        del exp["parts"]
    else:
        assert exp["parts"] == model, (name, exp["parts"], model)
    add_case(name, raw, expect(comment, **exp))


# common values
BOB = "bob@example.com"
BOB_E = [addr(BOB)]


def mid(name):
    return "<%s@corpus.mailcore.test>" % name.replace("_", "-")


def mid_e(name):
    return mid(name)[1:-1]


# --------------------------------------------------------------------------------------------
# 1. charsets: subject (B/Q), display name, body, some attachment filenames
# --------------------------------------------------------------------------------------------


def charset_case(name, comment, *, subject, s_label, s_enc, from_name, f_label, f_enc, f_addr,
                 body, b_label, cte, date, date_e, attach=None, quote=True, fold=False):
    s_words = encoded_words(subject, s_label, pycodec(s_label), s_enc)
    if not fold:
        assert len(s_words) == 1, (name, s_words)
    check_header(" ".join(s_words), subject)
    f_word = ew(from_name, f_label, enc=f_enc)
    check_header(f_word, from_name)
    body_leaf = text_leaf(body, b_label, cte, quote=quote)
    node = body_leaf if attach is None else Multi(
        ['Content-Type: multipart/mixed; boundary="=_%s_mixed"' % name],
        "=_%s_mixed" % name, [body_leaf, attach])
    hs = top(subject="\n ".join(s_words), from_="%s <%s>" % (f_word, f_addr), to=BOB, date=date,
             msgid=mid(name))
    with_headers(hs, node)
    msg_case(name, comment, node, subject=subject, **{"from": [addr(f_addr, from_name)]},
             to=BOB_E, date=date_e, message_id=mid_e(name), text=nl(body),
             **({} if attach is not None or cte == "8bit" else {"warnings_nonempty": False}))


def charsets():
    charset_case(
        "charset_utf8", "UTF-8: B subject with emoji, q (lowercase) display name, base64 body",
        subject="Résumé 📎 — 会议纪要 (final)", s_label="UTF-8", s_enc="B",
        from_name="Zoë Ångström", f_label="utf-8", f_enc="q", f_addr="zoe@example.se",
        body="Grüße aus München! 🇩🇪\nПривет, 世界.\n", b_label="utf-8", cte="base64",
        date="Fri, 01 Mar 2024 10:20:30 +0100", date_e="2024-03-01T10:20:30+01:00")

    charset_case(
        "charset_gb18030", "GB18030 incl. 4-byte sequences (CJK Ext-B, emoji) in subject and 8bit body",
        subject="GB18030测试：𠮷野家 😀", s_label="GB18030", s_enc="B",
        from_name="欧阳娜娜", f_label="gb18030", f_enc="B", f_addr="ouyang@example.cn",
        body="你好！这封邮件使用GB18030编码。\n生僻字：𠀀𠮷，表情：😀。\n", b_label="GB18030",
        cte="8bit", date="Sat, 02 Mar 2024 09:00:00 +0800", date_e="2024-03-02T09:00:00+08:00")

    gbk_file = "销售报告.xls"
    gbk_word = ew(gbk_file, "GBK")
    charset_case(
        "charset_gbk", "GBK: Q subject split over two folded words (lowercase label), B display "
        "name, base64 body, attachment whose name=/filename= are GBK encoded words",
        subject="第三季度销售报告（初稿）请审阅", s_label="gbk", s_enc="Q", fold=True,
        from_name="李娜", f_label="GBK", f_enc="B", f_addr="lina@example.cn",
        body="各位同事：\n\n附件是第三季度的销售报告，请查收。\n\n谢谢！\n", b_label="gbk",
        cte="base64", date="Mon, 04 Mar 2024 14:05:00 +0800",
        date_e="2024-03-04T14:05:00+08:00",
        attach=attachment("application/vnd.ms-excel", XLS, gbk_file, [
            'Content-Type: application/vnd.ms-excel; name="%s"' % gbk_word,
            'Content-Disposition: attachment; filename="%s"' % gbk_word]))

    # 镕 (U+9555) is not in GB2312 but is in GBK: mislabelled "gb2312" mail is everywhere and
    # must be decoded as GBK (WHATWG/encoding_rs maps the gb2312 label to GBK).
    gb_file = "会议记录.doc"
    gb_word = ew(gb_file, "GB2312", "gb2312")
    charset_case(
        "charset_gb2312", "GB2312: lowercase =?gb2312?B? subject, uppercase =?GB2312?B? name "
        "containing a GBK-only char (朱镕基), QP body, filename only via Content-Type name=",
        subject="关于召开年度总结会议的通知", s_label="gb2312", s_enc="B",
        from_name="朱镕基", f_label="GB2312", f_enc="B", f_addr="zhu@example.cn",
        body="各位：\n请于周五下午三点参加年度总结会议。\n", b_label="GB2312",
        cte="quoted-printable", date="Tue, 05 Mar 2024 08:30:00 +0800",
        date_e="2024-03-05T08:30:00+08:00",
        attach=attachment("application/msword", fake_bytes(b"DOC", 200), gb_file, [
            'Content-Type: application/msword; name="%s"' % gb_word,
            "Content-Disposition: attachment"]))

    big5_file = "報價單.pdf"
    big5_word = ew(big5_file, "big5")
    charset_case(
        "charset_big5", "Big5: B subject, Q name with 0x5C trail bytes (許功蓋), base64 body, "
        "Big5 encoded-word filename",
        subject="繁體中文測試郵件", s_label="big5", s_enc="B",
        from_name="許功蓋", f_label="Big5", f_enc="Q", f_addr="hsu@example.tw",
        body="您好：\n這是一封以Big5編碼的測試郵件。\n祝 順利\n", b_label="big5", cte="base64",
        date="Wed, 06 Mar 2024 16:45:10 +0800", date_e="2024-03-06T16:45:10+08:00",
        attach=attachment("application/pdf", PDF, big5_file, [
            'Content-Type: application/pdf; name="%s"' % big5_word,
            'Content-Disposition: attachment; filename="%s"' % big5_word]))

    charset_case(
        "charset_iso2022jp", "ISO-2022-JP: B subject and name (one word each), 7bit body",
        subject="会議のお知らせ", s_label="ISO-2022-JP", s_enc="B",
        from_name="山田太郎", f_label="iso-2022-jp", f_enc="B", f_addr="yamada@example.jp",
        body="山田様\n\nお世話になっております。\n来週の会議についてご連絡いたします。\n",
        b_label="ISO-2022-JP", cte="7bit", quote=False,
        date="Thu, 07 Mar 2024 11:00:00 +0900", date_e="2024-03-07T11:00:00+09:00")

    sj_file = "見積書.pdf"
    sj_word = ew(sj_file, "Shift_JIS")
    charset_case(
        "charset_shift_jis", "Shift_JIS: B subject/name (lower/upper label), base64 body with 0x5C "
        "trail bytes (表, ソ, 能), encoded-word filename",
        subject="見積書の送付について", s_label="shift_jis", s_enc="B",
        from_name="佐藤花子", f_label="SHIFT_JIS", f_enc="B", f_addr="sato@example.jp",
        body="佐藤様\n\nいつもお世話になっております。\n見積書を添付いたしますので、ご確認ください。\n"
             "表示・ソフト・能力\n",
        b_label="Shift_JIS", cte="base64", quote=False,
        date="Fri, 08 Mar 2024 17:30:00 +0900", date_e="2024-03-08T17:30:00+09:00",
        attach=attachment("application/pdf", PDF, sj_file, [
            "Content-Type: application/pdf",
            'Content-Disposition: attachment; filename="%s"' % sj_word]))

    charset_case(
        "charset_euc_kr", "EUC-KR: B subject, name labelled ks_c_5601-1987 (Outlook's label, an "
        "EUC-KR alias), 8bit body",
        subject="회의 일정 안내", s_label="EUC-KR", s_enc="B",
        from_name="김민수", f_label="ks_c_5601-1987", f_enc="B", f_addr="minsu.kim@example.kr",
        body="안녕하세요.\n다음 주 회의 일정을 알려드립니다.\n감사합니다.\n", b_label="euc-kr",
        cte="8bit", date="Mon, 11 Mar 2024 10:00:00 +0900", date_e="2024-03-11T10:00:00+09:00")

    charset_case(
        "charset_iso8859_1", "ISO-8859-1 (no 0x80-0x9F bytes): Q subject, lowercase q name, QP body",
        subject="Café crème brûlée", s_label="ISO-8859-1", s_enc="Q",
        from_name="François Müller", f_label="iso-8859-1", f_enc="q", f_addr="francois@example.fr",
        body="Voilà : ça coûte 5 £ à l'hôtel « Bärengarten ».\nÀ bientôt, ½ déjà payé.\n",
        b_label="iso-8859-1", cte="quoted-printable",
        date="Tue, 12 Mar 2024 09:15:00 +0100", date_e="2024-03-12T09:15:00+01:00")

    charset_case(
        "charset_iso8859_2", "ISO-8859-2 Polish: Q subject, B name, 8bit body",
        subject="Zażółć gęślą jaźń", s_label="ISO-8859-2", s_enc="Q",
        from_name="Łukasz Wróbel", f_label="iso-8859-2", f_enc="B", f_addr="lukasz@example.pl",
        body="Dzień dobry,\nprzesyłam sprawozdanie kwartalne. Proszę o potwierdzenie.\n"
             "Pozdrawiam, Łukasz\n",
        b_label="ISO-8859-2", cte="8bit",
        date="Wed, 13 Mar 2024 12:00:00 +0100", date_e="2024-03-13T12:00:00+01:00")

    charset_case(
        "charset_iso8859_5", "ISO-8859-5 Cyrillic: B subject, Q name, base64 body",
        subject="Привет из Москвы", s_label="ISO-8859-5", s_enc="B",
        from_name="Иван Петров", f_label="iso-8859-5", f_enc="Q", f_addr="ivan@example.ru",
        body="Здравствуйте, коллеги!\nВстреча переносится на пятницу.\n", b_label="iso-8859-5",
        cte="base64", date="Thu, 14 Mar 2024 15:20:00 +0300", date_e="2024-03-14T15:20:00+03:00")

    charset_case(
        "charset_iso8859_15", "ISO-8859-15 (€ 0xA4, œ 0xBD, Š 0xA6, Ž 0xB4, Ÿ 0xBE): Q subject, "
        "B name, QP body",
        subject="Prix : 15 € pour l'œuvre", s_label="ISO-8859-15", s_enc="Q",
        from_name="Šárka Žáková", f_label="iso-8859-15", f_enc="B", f_addr="sarka@example.cz",
        body="Le prix est de 15 € (œuf, Œil, Ÿ, š, ž).\n", b_label="ISO-8859-15",
        cte="quoted-printable",
        date="Fri, 15 Mar 2024 18:00:00 +0100", date_e="2024-03-15T18:00:00+01:00")

    charset_case(
        "charset_windows1250", "windows-1250 Czech/Polish incl. 0x80-0x9F bytes: Q subject, B "
        "name, 8bit body",
        subject="Příliš žluťoučký kůň úpěl", s_label="windows-1250", s_enc="Q",
        from_name="Paweł Śliwiński", f_label="Windows-1250", f_enc="B", f_addr="pawel@example.pl",
        body="Příliš žluťoučký kůň úpěl ďábelské ódy.\nZażółć gęślą jaźń – „cytat”.\n",
        b_label="windows-1250", cte="8bit",
        date="Mon, 18 Mar 2024 07:45:00 +0100", date_e="2024-03-18T07:45:00+01:00")

    charset_case(
        "charset_windows1251", "windows-1251 Russian incl. № « » —: uppercase-label B subject, "
        "Q name, base64 body",
        subject="Отчёт за III квартал", s_label="WINDOWS-1251", s_enc="B",
        from_name="Ольга Смирнова", f_label="windows-1251", f_enc="Q", f_addr="olga@example.ru",
        body="Здравствуйте!\nОтчёт во вложении, № 5 — «важно».\n", b_label="windows-1251",
        cte="base64", date="Tue, 19 Mar 2024 13:10:00 +0300", date_e="2024-03-19T13:10:00+03:00")

    charset_case(
        "charset_windows1252", "windows-1252 smart quotes/€/… (0x80-0x9F): Q subject and name, QP body",
        subject="“Smart quotes” – €uro", s_label="windows-1252", s_enc="Q",
        from_name="Renée O’Brien", f_label="WINDOWS-1252", f_enc="Q", f_addr="renee@example.ie",
        body="It’s a “test” — costs €5…\nŠome Œ and ž.\n", b_label="windows-1252",
        cte="quoted-printable",
        date="Wed, 20 Mar 2024 20:00:00 +0000", date_e="2024-03-20T20:00:00+00:00")

    # UTF-7 (RFC 2152) is not a WHATWG encoding: the parser needs its own decoder.
    text = "Hi Mom -☺-!\nA≢Α.\n日本語\n"
    payload = nl(text).encode("utf-7")
    # note the last shift sequence is ended implicitly by CR (no '-'), which RFC 2152 allows
    assert payload == b"Hi Mom -+Jjo--!\r\nA+ImIDkQ.\r\n+ZeVnLIqe\r\n", payload
    node = Leaf(['Content-Type: text/plain; charset="UTF-7"', "Content-Transfer-Encoding: 7bit"],
                payload, "text/plain", "utf-7", None, payload)
    with_headers(top(subject="UTF-7 body", from_="Mom <mom@example.com>", to=BOB,
                     date="Thu, 21 Mar 2024 08:00:00 -0500", msgid=mid("charset_utf7")), node)
    msg_case("charset_utf7", "UTF-7 body (RFC 2152 examples): 'Hi Mom -+Jjo--!' -> 'Hi Mom -☺-!'",
             node, subject="UTF-7 body", **{"from": [addr("mom@example.com", "Mom")]}, to=BOB_E,
             date="2024-03-21T08:00:00-05:00", message_id=mid_e("charset_utf7"), text=nl(text))

    # Real Japanese MUAs split long ISO-2022-JP subjects into several self-contained words (each
    # ends with ESC ( B).  Concatenating the bytes and decoding with a WHATWG decoder yields
    # U+FFFD at each join (ESC ( B immediately followed by ESC $ B is an error there), so the
    # parser has to decode ISO-2022-JP words separately (or strip the redundant escapes).
    subject = "【重要】来週の定例会議の日程変更について（再送）"
    words = encoded_words(subject, "ISO-2022-JP", "iso2022_jp", "B")
    assert len(words) >= 2
    check_header(" ".join(words), subject)
    body = "各位\n\n定例会議の日程を変更します。\n"
    node = text_leaf(body, "iso-2022-jp", "7bit")
    with_headers(top(subject="\n ".join(words), from_="suzuki@example.jp", to=BOB,
                     date="Fri, 22 Mar 2024 09:30:00 +0900", msgid=mid("charset_iso2022jp_multiword")),
                 node)
    msg_case("charset_iso2022jp_multiword", "ISO-2022-JP subject split into %d self-contained "
             "B words on folded lines" % len(words), node, subject=subject,
             **{"from": [addr("suzuki@example.jp")]}, date="2024-03-22T09:30:00+09:00",
             text=nl(body))


# --------------------------------------------------------------------------------------------
# 2. RFC 2047 details, folding, raw UTF-8 headers
# --------------------------------------------------------------------------------------------


def simple(name, comment, headers, body="Hello.\n", eol=CRLF, **exp):
    node = text_leaf(body, None, None, eol=eol)
    node.headers = []  # no Content-Type at all: defaults to text/plain, no charset
    with_headers(headers, node)
    exp.setdefault("text", nl(body, eol))
    msg_case(name, comment, node, eol=eol, **exp)


def encoded_word_cases():
    # adjacent words: the whitespace between them disappears, whatever its amount
    w1, w2, w3 = ew("中文", "UTF-8"), ew("测试", "UTF-8"), ew(" OK", "utf-8", enc="q")
    subject = "%s %s   %s" % (w1, w2, w3)
    check_header(subject, "中文测试 OK")
    n1, n2 = ew("王", "UTF-8"), ew("小明", "UTF-8")
    # RFC 2047 section 8: adjacent words in different charsets are joined as well
    t1, t2 = ew("André", "ISO-8859-1", enc="Q"), ew(" Łukasz", "ISO-8859-2", enc="Q")
    simple("ew_adjacent", "adjacent encoded words (1 and 3 spaces between) are joined without "
           "the whitespace, also across charsets (ISO-8859-1 + ISO-8859-2) and in display names",
           top(subject=subject, from_="%s %s <wang.xiaoming@example.cn>" % (n1, n2),
               to="%s %s <andre@example.com>" % (t1, t2), date="Fri, 01 Mar 2024 10:20:30 +0800",
               msgid=mid("ew_adjacent")),
           subject="中文测试 OK", **{"from": [addr("wang.xiaoming@example.cn", "王小明")]},
           to=[addr("andre@example.com", "André Łukasz")], message_id=mid_e("ew_adjacent"),
           warnings_nonempty=False)

    # a multibyte UTF-8 character split across two B words: bytes must be joined before decoding
    subject = "中文测试：多字节字符跨越编码字"
    data = subject.encode("utf-8")
    cuts = [0, 7, 20, 32, len(data)]
    pieces = [data[a:b] for a, b in zip(cuts, cuts[1:])]
    for p in pieces[:-1]:
        try:
            p.decode("utf-8")
            raise AssertionError("cut is on a character boundary")
        except UnicodeDecodeError:
            pass
    words = [ew_bytes(p, "UTF-8") for p in pieces]
    check_header(" ".join(words), subject)
    name = "张伟"
    nd = name.encode("utf-8")
    nwords = [ew_bytes(nd[:2], "UTF-8"), ew_bytes(nd[2:], "UTF-8")]
    check_header(" ".join(nwords), name)
    simple("ew_split_multibyte", "UTF-8 characters split across adjacent B words (subject over "
           "folded lines, and a display name); decoders must join the bytes first",
           top(subject="\n ".join(words), from_="%s <zhangwei@example.cn>" % " ".join(nwords),
               to=BOB, date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("ew_split_multibyte")),
           subject=subject, **{"from": [addr("zhangwei@example.cn", name)]}, to=BOB_E,
           date="2024-03-01T10:20:30+08:00")

    # encoded word next to plain text keeps the space
    subject = "Re: [dev] %s meeting %s confirmed" % (ew("Café", "UTF-8", enc="Q"), ew("✓", "UTF-8"))
    check_header(subject, "Re: [dev] Café meeting ✓ confirmed")
    simple("ew_mixed_plain", "encoded words between plain words keep the surrounding spaces "
           "(RFC 2047 example 'André Pirard')",
           top(subject=subject, from_="%s Pirard <andre.pirard@vm1.ulg.ac.be>"
               % ew("André", "UTF-8", enc="Q"), to=BOB, date="Fri, 01 Mar 2024 10:20:30 +0800",
               msgid=mid("ew_mixed_plain")),
           subject="Re: [dev] Café meeting ✓ confirmed",
           **{"from": [addr("andre.pirard@vm1.ulg.ac.be", "André Pirard")]}, to=BOB_E,
           warnings_nonempty=False)

    # Q: '_' is a space, =XX escapes (incl. =5F for a literal underscore), lowercase ?q?
    subject_raw = "=?utf-8?q?Price=3A_100=E2=82=AC_=3D_=5Fnet=5F_=3F_Stra=C3=9Fe?="
    check_header(subject_raw, "Price: 100€ = _net_ ? Straße")
    simple("ew_q_encoding", "Q encoding: '_' = space, =3A =3D =5F =3F escapes, lowercase q and "
           "charset; RFC 2047 examples in From/To",
           top(subject=subject_raw,
               from_="=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>",
               to="=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>",
               date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("ew_q_encoding")),
           subject="Price: 100€ = _net_ ? Straße",
           **{"from": [addr("keld@dkuug.dk", "Keld Jørn Simonsen")]},
           to=[addr("moore@cs.utk.edu", "Keith Moore")], warnings_nonempty=False)

    simple("header_folded_subject", "plain subject folded over three lines: unfolding removes "
           "only the CRLF, the single leading space of each continuation stays",
           top(subject="This is a deliberately long subject line that has been\n folded onto a "
               "second line\n and a third one", from_="Alice <alice@example.com>", to=BOB,
               date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("header_folded_subject")),
           subject="This is a deliberately long subject line that has been folded onto a second "
                   "line and a third one",
           **{"from": [addr("alice@example.com", "Alice")]}, to=BOB_E,
           date="2024-03-01T10:20:30+08:00", warnings_nonempty=False)

    body = "正文也是UTF-8。\n"
    node = text_leaf(body, "utf-8", "8bit")
    with_headers(top(subject="会议纪要：第三季度 – Résumé", from_="张三 <zhangsan@example.com>",
                     to='"Müller, Jürgen" <juergen@example.de>',
                     date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("raw_utf8_headers")), node)
    msg_case("raw_utf8_headers", "raw UTF-8 (RFC 6532) in Subject and display names, no encoded "
             "words", node, subject="会议纪要：第三季度 – Résumé",
             **{"from": [addr("zhangsan@example.com", "张三")]},
             to=[addr("juergen@example.de", "Müller, Jürgen")], text=nl(body))


# --------------------------------------------------------------------------------------------
# 3. attachment file names: RFC 2231, name= fallback, encoded words in quoted strings
# --------------------------------------------------------------------------------------------


def with_attachments(name, comment, attachments, body="See attachment.\n", **exp):
    node = Multi(['Content-Type: multipart/mixed; boundary="%s-boundary"' % name],
                 "%s-boundary" % name, [text_leaf(body, "us-ascii", "7bit")] + attachments)
    with_headers(top(subject=name.replace("_", " "), from_="Alice <alice@example.com>", to=BOB,
                     date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid(name)), node)
    msg_case(name, comment, node, subject=name.replace("_", " "), text=nl(body), **exp)


def filename_cases():
    fn = "中文.pdf"
    assert "filename*=UTF-8''" + pct(fn.encode("utf-8")) == "filename*=UTF-8''%E4%B8%AD%E6%96%87.pdf"
    with_attachments("rfc2231_utf8", "RFC 2231 filename*=UTF-8''%E4%B8%AD%E6%96%87.pdf", [
        attachment("application/pdf", PDF, fn, [
            "Content-Type: application/pdf",
            "Content-Disposition: attachment; filename*=UTF-8''%s" % pct(fn.encode("utf-8"))])],
        warnings_nonempty=False)

    seg = ["年度", "报告_", "final.txt"]
    fn1 = "".join(seg)
    fn2 = "A rather long file name that was split into two plain continuations.txt"
    with_attachments("rfc2231_continuation", "RFC 2231 continuations: extended *0* *1* plus a "
                     "plain *2 segment (folded header); and plain quoted *0 *1 continuations", [
        attachment("application/octet-stream", fake_bytes(b"A", 100), fn1, [
            "Content-Type: application/octet-stream",
            "Content-Disposition: attachment;\n filename*0*=utf-8''%s;\n filename*1*=%s;\n "
            'filename*2="%s"' % (pct(seg[0].encode()), pct(seg[1].encode()), seg[2])]),
        attachment("application/octet-stream", fake_bytes(b"B", 101), fn2, [
            "Content-Type: application/octet-stream",
            'Content-Disposition: attachment;\n filename*0="%s";\n filename*1="%s"'
            % (fn2[:40], fn2[40:])])],
        warnings_nonempty=False)

    fn = "中文报告.xlsx"
    value = "gbk'zh-cn'" + pct(fn.encode("gbk"))
    assert value.startswith("gbk'zh-cn'%D6%D0%CE%C4")
    with_attachments("rfc2231_gbk_lang", "RFC 2231 filename* in GBK with a language tag", [
        attachment("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                   fake_bytes(b"PK\x03\x04", 300), fn, [
                       "Content-Type: application/vnd.openxmlformats-officedocument"
                       ".spreadsheetml.sheet",
                       "Content-Disposition: attachment; filename*=%s" % value])])

    with_attachments("filename_name_fallback", "no filename on Content-Disposition (or no "
                     "Content-Disposition at all): Content-Type name= is the filename", [
        attachment("application/pdf", PDF, "Quarterly Report.pdf", [
            'Content-Type: application/pdf; name="Quarterly Report.pdf"',
            "Content-Disposition: attachment"]),
        attachment("image/png", PNG, "chart.png", ["Content-Type: image/png; name=chart.png"])],
        warnings_nonempty=False)

    fn1 = "测试文件.docx"
    fn2 = "第三季度财务报表及管理层讨论与分析（最终版）.pdf"
    w2 = encoded_words(fn2, "UTF-8", "utf-8", "B", limit=60)
    assert len(w2) == 2
    with_attachments("filename_encoded_word", "RFC 2047 encoded words inside quoted filename= "
                     "and name= (not RFC-conformant but ubiquitous); the second one is split over "
                     "two adjacent words", [
        attachment("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                   fake_bytes(b"PK\x03\x04", 256), fn1, [
                       "Content-Type: application/vnd.openxmlformats-officedocument"
                       ".wordprocessingml.document",
                       'Content-Disposition: attachment; filename="%s"' % ew(fn1, "UTF-8")]),
        attachment("application/pdf", PDF, fn2, [
            'Content-Type: application/pdf;\n name="%s"' % " ".join(w2),
            'Content-Disposition: attachment;\n filename="%s"' % " ".join(w2)])])


# --------------------------------------------------------------------------------------------
# 4. Content-Transfer-Encodings
# --------------------------------------------------------------------------------------------


def cte_cases():
    # hand-written quoted-printable (soft breaks, =3D, lowercase hex, a soft break before an
    # empty line) checked against binascii's decoder
    raw = (b"This is a long line that has been wrapped with a soft line break so that=\r\n"
           b" it fits; the equals sign is encoded as =3D and so is a=3Db.\r\n"
           b"Caf=C3=A9 cr=C3=A8me: na=C3=AFve r=C3=A9sum=C3=A9, 10=e2=82=ac.\r\n"
           b"Soft break at the end of a paragraph=\r\n"
           b"\r\n"
           b"Last line.\r\n")
    text = ("This is a long line that has been wrapped with a soft line break so that it fits; "
            "the equals sign is encoded as = and so is a=b.\r\n"
            "Café crème: naïve résumé, 10€.\r\n"
            "Soft break at the end of a paragraph\r\n"
            "Last line.\r\n")
    assert binascii.a2b_qp(raw) == text.encode("utf-8")
    node = Leaf(['Content-Type: text/plain; charset="utf-8"',
                 "Content-Transfer-Encoding: Quoted-Printable"],
                raw, "text/plain", "utf-8", None, text.encode("utf-8"))
    with_headers(top(subject="quoted-printable", from_="alice@example.com", to=BOB,
                     date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("cte_qp_soft_breaks")), node)
    msg_case("cte_qp_soft_breaks", "QP with soft line breaks, =3D, lowercase hex escapes", node,
             subject="quoted-printable", text=text)

    # base64 with junk: spaces, '*', '!', tabs, uneven line lengths, no '=' padding
    text = "Base64 junk test: Ünïcödé ✓ 中文 — the decoder must ignore non-alphabet chars!!\r\n"
    payload = text.encode("utf-8")
    assert len(payload) % 3 == 1  # so two "=" are missing: the last quantum has 2 chars
    clean = base64.b64encode(payload).rstrip(b"=")
    cuts = [0, 13, 70, 73, 101, len(clean)]
    lines = [clean[a:b] for a, b in zip(cuts, cuts[1:])]
    junk = [b" *", b"!! ", b"\t", b" * ! ", b""]
    body = CRLF.join(l[: len(l) // 2] + j + l[len(l) // 2 :] for l, j in zip(lines, junk)) + CRLF
    strip = bytes(b for b in body if b in
                  b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    assert base64.b64decode(strip + b"=" * (-len(strip) % 4)) == payload
    assert b"=" not in body and b"-" not in body and b"_" not in body
    node = Leaf(["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: BASE64"],
                body, "text/plain", "utf-8", None, payload)
    with_headers(top(subject="base64 with junk", from_="alice@example.com", to=BOB,
                     date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("cte_base64_junk")), node)
    msg_case("cte_base64_junk", "base64 with spaces, tabs, '*', '!' mixed in, uneven lines and "
             "the '=' padding missing; RFC 2045 says ignore non-alphabet characters", node,
             subject="base64 with junk", text=text)

    body = "Plain ASCII body.\nSecond line.\n"
    simple("cte_7bit", "7bit single part, upper-case 7BIT token, no charset parameter",
           top(subject="seven bit", from_="alice@example.com", to=BOB,
               date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("cte_7bit"),
               extra=["Content-Type: text/plain", "Content-Transfer-Encoding: 7BIT"]),
           body=body, subject="seven bit", warnings_nonempty=False)

    body = "8bit UTF-8: naïve café, Ελληνικά, русский, 日本語, 한국어.\n"
    node = text_leaf(body, "UTF-8", "8bit")
    with_headers(top(subject="eight bit", from_="alice@example.com", to=BOB,
                     date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("cte_8bit")), node)
    msg_case("cte_8bit", "8bit raw UTF-8 body", node, subject="eight bit", text=nl(body))

    body = "Binary transfer encoding, UTF-8 text: ok ✓\n"
    blob = bytes(range(256))
    assert b"\r\n" not in blob
    node = Multi(['Content-Type: multipart/mixed; boundary="bin-boundary"'], "bin-boundary", [
        text_leaf(body, "utf-8", "binary"),
        attachment("application/octet-stream", blob, "all-bytes.bin", [
            "Content-Type: application/octet-stream",
            'Content-Disposition: attachment; filename="all-bytes.bin"'], cte="binary")])
    with_headers(top(subject="binary", from_="alice@example.com", to=BOB,
                     date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("cte_binary")), node)
    msg_case("cte_binary", "Content-Transfer-Encoding: binary for a text part and for a part "
             "holding all 256 byte values (NUL, bare CR, bare LF)", node, subject="binary",
             text=nl(body))


# --------------------------------------------------------------------------------------------
# 5. multipart structures
# --------------------------------------------------------------------------------------------


def multipart_cases():
    body = "Please find the documents attached.\n"
    node = Multi(['Content-Type: Multipart/Mixed; Boundary="=_mixed_0001"'], "=_mixed_0001", [
        text_leaf(body, "UTF-8", "7bit"),
        attachment("application/pdf", PDF, "report.pdf", [
            'Content-Type: application/pdf; name="report.pdf"',
            'Content-Disposition: attachment; filename="report.pdf"']),
        attachment("image/png", PNG, "logo.png", [
            "Content-Type: IMAGE/PNG",
            'Content-Disposition: inline; filename="logo.png"'])])
    with_headers(top(subject="Documents", from_="Alice <alice@example.com>", to=BOB,
                     date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("mp_mixed")), node)
    msg_case("mp_mixed", "multipart/mixed: text + 2 base64 attachments; mixed-case type and "
             "parameter names (types are reported lowercased)", node, subject="Documents",
             text=nl(body), html=None, warnings_nonempty=False,
             parts=[
                 {"path": "1", "content_type": "text/plain", "charset": "utf-8", "filename": None,
                  "size": len(nl(body))},
                 {"path": "2", "content_type": "application/pdf", "charset": None,
                  "filename": "report.pdf", "size": len(PDF)},
                 {"path": "3", "content_type": "image/png", "charset": None,
                  "filename": "logo.png", "size": len(PNG)}])

    plain = "Hello Bob,\n\nthe plan for next week: café at 10 — don't be late.\n"
    html = ("<html><body><p>Hello Bob,</p>\n<p>the plan for next week: <b>café</b> at 10 "
            "&mdash; don't be late.</p></body></html>\n")
    node = Multi(['Content-Type: multipart/alternative; boundary="alt-1"'], "alt-1", [
        text_leaf(plain, "utf-8", "quoted-printable"),
        text_leaf(html, "utf-8", "base64", subtype="html")])
    with_headers(top(subject="Plan", from_="Alice <alice@example.com>", to=BOB,
                     date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("mp_alternative")), node)
    msg_case("mp_alternative", "multipart/alternative text (QP) + html (base64)", node,
             subject="Plan", text=nl(plain), html=nl(html), warnings_nonempty=False)

    plain = "Newsletter (plain text version).\n"
    html = '<html><body><h1>Newsletter</h1><img src="cid:img1@example.com"></body></html>\n'
    node = Multi(['Content-Type: multipart/mixed; boundary="outer-mixed"'], "outer-mixed", [
        Multi(['Content-Type: multipart/alternative; boundary="middle-alt"'], "middle-alt", [
            text_leaf(plain, "us-ascii", "7bit"),
            Multi(['Content-Type: multipart/related; boundary="inner-rel"; type="text/html"'],
                  "inner-rel", [
                      text_leaf(html, "utf-8", "7bit", subtype="html"),
                      attachment("image/gif", GIF, None, [
                          "Content-Type: image/gif", "Content-ID: <img1@example.com>",
                          "Content-Disposition: inline"])])]),
        attachment("application/pdf", PDF, "newsletter.pdf", [
            "Content-Type: application/pdf",
            'Content-Disposition: attachment; filename="newsletter.pdf"'])])
    with_headers(top(subject="Newsletter", from_="news@example.com", to=BOB,
                     date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("mp_nested")), node)
    msg_case("mp_nested", "mixed > alternative > related: leaf paths 1.1, 1.2.1, 1.2.2, 2", node,
             subject="Newsletter", text=nl(plain), html=nl(html), warnings_nonempty=False,
             parts=[
                 {"path": "1.1", "content_type": "text/plain", "charset": "us-ascii",
                  "filename": None, "size": len(nl(plain))},
                 {"path": "1.2.1", "content_type": "text/html", "charset": "utf-8",
                  "filename": None, "size": len(nl(html))},
                 {"path": "1.2.2", "content_type": "image/gif", "charset": None,
                  "filename": None, "size": len(GIF)},
                 {"path": "2", "content_type": "application/pdf", "charset": None,
                  "filename": "newsletter.pdf", "size": len(PDF)}])

    intro = "This digest contains 3 messages.\n"
    m1 = "First digest message.\n"
    m2 = "Zweite Nachricht – UTF-8.\n"
    m3 = "A plain text note inside the digest.\n"
    msg1 = Leaf(["From: carol@example.com", "Subject: first", "Date: Thu, 29 Feb 2024 12:00:00 +0000"],
                nl(m1).encode(), "text/plain", None, None, nl(m1).encode())
    msg2 = text_leaf(m2, "utf-8", "8bit")
    with_headers(["From: dave@example.com", "Subject: second", "MIME-Version: 1.0"], msg2)
    note = text_leaf(m3, None, None)
    digest = Multi(['Content-Type: multipart/digest; boundary="digest-sep"'], "digest-sep", [
        Rfc822([], msg1),  # no part headers: default type inside a digest is message/rfc822
        Rfc822(["Content-Type: message/rfc822"], msg2),
        note])
    node = Multi(['Content-Type: multipart/mixed; boundary="digest-outer"'], "digest-outer", [
        text_leaf(intro, "us-ascii", "7bit"), digest])
    with_headers(top(subject="List digest, Vol 1, Issue 1", from_="list@example.org", to=BOB,
                     date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("mp_digest")), node)
    msg_case("mp_digest", "multipart/digest: a part without headers defaults to message/rfc822 "
             "(its body is a text/plain message -> 2.1.1); explicit message/rfc822 -> 2.2.1; "
             "explicit text/plain -> 2.3", node, subject="List digest, Vol 1, Issue 1",
             text=nl(intro),
             parts=[
                 {"path": "1", "content_type": "text/plain", "charset": "us-ascii",
                  "filename": None, "size": len(nl(intro))},
                 {"path": "2.1.1", "content_type": "text/plain", "charset": None,
                  "filename": None, "size": len(nl(m1))},
                 {"path": "2.2.1", "content_type": "text/plain", "charset": "utf-8",
                  "filename": None, "size": len(nl(m2).encode())},
                 {"path": "2.3", "content_type": "text/plain", "charset": None,
                  "filename": None, "size": len(nl(m3))}])

    outer = "Forwarding the message below.\n"
    inner_plain = "Inner plain text.\n"
    inner_html = "<p>Inner <i>HTML</i>.</p>\n"
    inner = Multi(['Content-Type: multipart/alternative; boundary="inner-alt"'], "inner-alt", [
        text_leaf(inner_plain, "utf-8", "7bit"),
        text_leaf(inner_html, "utf-8", "quoted-printable", subtype="html")])
    with_headers(["From: Carol <carol@example.com>", "To: alice@example.com",
                  "Subject: Original message", "Date: Thu, 29 Feb 2024 12:00:00 +0000",
                  "MIME-Version: 1.0"], inner)
    node = Multi(['Content-Type: multipart/mixed; boundary="fwd-outer"'], "fwd-outer", [
        text_leaf(outer, "utf-8", "7bit"),
        Rfc822(["Content-Type: message/rfc822", "Content-Disposition: attachment"], inner),
        attachment("application/octet-stream", fake_bytes(b"Z", 64), "trailer.bin", [
            "Content-Type: application/octet-stream",
            'Content-Disposition: attachment; filename="trailer.bin"'])])
    with_headers(top(subject="Fwd: Original message", from_="Alice <alice@example.com>", to=BOB,
                     date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("mp_rfc822_multipart")),
                 node)
    msg_case("mp_rfc822_multipart", "message/rfc822 attachment whose body is multipart/alternative:"
             " leaves 1, 2.1, 2.2, then 3 after it; outer subject/text win", node,
             subject="Fwd: Original message", **{"from": [addr("alice@example.com", "Alice")]},
             text=nl(outer),
             parts=[
                 {"path": "1", "content_type": "text/plain", "charset": "utf-8",
                  "filename": None, "size": len(nl(outer))},
                 {"path": "2.1", "content_type": "text/plain", "charset": "utf-8",
                  "filename": None, "size": len(nl(inner_plain))},
                 {"path": "2.2", "content_type": "text/html", "charset": "utf-8",
                  "filename": None, "size": len(nl(inner_html))},
                 {"path": "3", "content_type": "application/octet-stream", "charset": None,
                  "filename": "trailer.bin", "size": 64}])

    inner_body = "Just a single text part.\n"
    inner = Leaf(["From: carol@example.com", "Subject: simple inner", "Date: Thu, 29 Feb 2024 "
                  "12:00:00 +0000"], nl(inner_body).encode(), "text/plain", None, None,
                 nl(inner_body).encode())
    node = Multi(['Content-Type: multipart/mixed; boundary="fwd2"'], "fwd2", [
        text_leaf(outer, "utf-8", "7bit"), Rfc822(["Content-Type: message/rfc822"], inner)])
    with_headers(top(subject="Fwd: simple inner", from_="alice@example.com", to=BOB,
                     date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("mp_rfc822_simple")), node)
    msg_case("mp_rfc822_simple", "message/rfc822 at 2 whose body is a single text part: leaf 2.1",
             node, subject="Fwd: simple inner", text=nl(outer),
             parts=[
                 {"path": "1", "content_type": "text/plain", "charset": "utf-8",
                  "filename": None, "size": len(nl(outer))},
                 {"path": "2.1", "content_type": "text/plain", "charset": None,
                  "filename": None, "size": len(nl(inner_body))}])

    first = "First part.\n"
    preamble = nl("This is a multi-part message in MIME format.\n\nIf you can read this, "
                  "your mail reader is old.\n--not-the-boundary\n").encode()
    epilogue = nl("This is the epilogue. It is ignored.\nContent-Type: text/html\n\n<p>not a "
                  "part</p>\n").encode()
    node = Multi(['Content-Type: multipart/mixed; boundary="pe-b"'], "pe-b", [
        text_leaf(first, "us-ascii", "7bit"), text_leaf("<p>Second part.</p>\n", "us-ascii",
                                                        "7bit", subtype="html")],
        preamble=preamble, epilogue=epilogue)
    with_headers(top(subject="preamble and epilogue", from_="alice@example.com", to=BOB,
                     date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("mp_preamble_epilogue")),
                 node)
    msg_case("mp_preamble_epilogue", "preamble (with a '--not-the-boundary' line) and epilogue "
             "(looking like a part) are not parts", node, subject="preamble and epilogue",
             text=nl(first), html=nl("<p>Second part.</p>\n"))

    first = "Delimiter lines carry transport padding.\n"
    node = Multi(['Content-Type: multipart/mixed; boundary="ws-b"'], "ws-b", [
        text_leaf(first, "us-ascii", "7bit"),
        attachment("application/pdf", PDF, "padded.pdf", [
            "Content-Type: application/pdf", 'Content-Disposition: attachment; filename="padded.pdf"'])],
        pad=[b"  ", b"\t", b" \t "])
    with_headers(top(subject="boundary whitespace", from_="alice@example.com", to=BOB,
                     date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("mp_boundary_trailing_ws")),
                 node)
    raw = render(node)
    assert b"--ws-b  \r\n" in raw and b"--ws-b\t\r\n" in raw and b"--ws-b-- \t \r\n" in raw
    msg_case("mp_boundary_trailing_ws", "delimiter and close-delimiter lines with trailing "
             "spaces/tabs (RFC 2046 transport-padding): still delimiters", node,
             subject="boundary whitespace", text=nl(first))


# --------------------------------------------------------------------------------------------
# 6. broken structure
# --------------------------------------------------------------------------------------------


def broken_cases():
    first = "The attachment below is truncated (no closing delimiter).\n"
    node = Multi(['Content-Type: multipart/mixed; boundary="unclosed"'], "unclosed", [
        text_leaf(first, "us-ascii", "7bit"),
        attachment("application/pdf", PDF, "cut.pdf", [
            "Content-Type: application/pdf", 'Content-Disposition: attachment; filename="cut.pdf"'])],
        close=False)
    with_headers(top(subject="missing close delimiter", from_="alice@example.com", to=BOB,
                     date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("broken_missing_close")),
                 node)
    assert not render(node).rstrip().endswith(b"--")
    msg_case("broken_missing_close", "no close-delimiter: the last part runs to end of input "
             "(base64, so the trailing CRLF cannot change its size)", node,
             subject="missing close delimiter", text=nl(first), warnings_nonempty=True)

    outer1, outer3 = "outer first\n", "outer last\n"
    inner_plain, inner_html = "inner plain\n", "<p>inner html</p>\n"
    node = Multi(['Content-Type: multipart/mixed; boundary="abc"'], "abc", [
        text_leaf(outer1, None, None),
        Multi(['Content-Type: multipart/alternative; boundary="abcd"'], "abcd", [
            text_leaf(inner_plain, None, None), text_leaf(inner_html, None, None, subtype="html")]),
        text_leaf(outer3, None, None)])
    with_headers(top(subject="boundary prefix", from_="alice@example.com", to=BOB,
                     date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("broken_boundary_prefix")),
                 node)
    msg_case("broken_boundary_prefix", "outer boundary 'abc' is a prefix of the inner 'abcd': "
             "'--abcd' lines are not outer delimiters (delimiters match whole lines)", node,
             subject="boundary prefix", text=nl(outer1), html=nl(inner_html),
             parts=[
                 {"path": "1", "content_type": "text/plain", "charset": None, "filename": None,
                  "size": len(outer1) + 1},
                 {"path": "2.1", "content_type": "text/plain", "charset": None, "filename": None,
                  "size": len(inner_plain) + 1},
                 {"path": "2.2", "content_type": "text/html", "charset": None, "filename": None,
                  "size": len(inner_html) + 1},
                 {"path": "3", "content_type": "text/plain", "charset": None, "filename": None,
                  "size": len(outer3) + 1}])

    raw = CRLF.join(x.encode() for x in top(
        subject="multipart without boundary", from_="alice@example.com", to=BOB,
        date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("broken_no_boundary_param"),
        extra=["Content-Type: multipart/mixed"])) + CRLF + CRLF + CRLF.join([
            b"--x", b"Content-Type: text/plain", b"", b"part one?", b"--x--", b""])
    add_case("broken_no_boundary_param", raw, expect(
        "multipart/mixed without a boundary parameter: only 'it warns' is asserted",
        subject="multipart without boundary", warnings_nonempty=True))

    body = "Body after a broken header block.\r\n"
    raw = CRLF.join([
        b"From: Alice <alice@example.com>",
        b"To: bob@example.com",
        b"This line has no colon at all",
        b"Subject: Headers after a broken line",
        b"Date: Fri, 01 Mar 2024 10:20:30 +0800",
        b"Message-ID: " + mid("broken_header_no_colon").encode(),
        b"", b""]) + body.encode()
    add_case("broken_header_no_colon", raw, expect(
        "a header line without a colon is skipped with a warning; the headers after it still "
        "count", subject="Headers after a broken line", **{"from": [addr("alice@example.com", "Alice")]},
        to=BOB_E, date="2024-03-01T10:20:30+08:00", message_id=mid_e("broken_header_no_colon"),
        text=body, warnings_nonempty=True))


# --------------------------------------------------------------------------------------------
# 7. line endings and degenerate messages
# --------------------------------------------------------------------------------------------


def degenerate_cases():
    body = "Line one\nLine two\n"
    simple("bare_lf_simple", "bare LF line endings everywhere (incl. a folded subject); the text "
           "keeps its LF endings",
           top(subject="Bare LF\n message", from_="Alice <alice@example.com>", to=BOB,
               date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("bare_lf_simple")),
           body=body, eol=LF, subject="Bare LF message",
           **{"from": [addr("alice@example.com", "Alice")]}, to=BOB_E,
           date="2024-03-01T10:20:30+08:00", message_id=mid_e("bare_lf_simple"), text=body)

    plain = "Plain with LF.\nSecond line.\n"
    html = "<p>HTML with LF.</p>\n"
    node = Multi(['Content-Type: multipart/alternative; boundary="lf-alt"'], "lf-alt", [
        text_leaf(plain, "utf-8", "quoted-printable", eol=LF),
        text_leaf(html, "utf-8", "base64", subtype="html", eol=LF),
        attachment("image/png", PNG, "lf.png", [
            "Content-Type: image/png", 'Content-Disposition: inline; filename="lf.png"'], eol=LF)])
    with_headers(top(subject="Bare LF multipart", from_="alice@example.com", to=BOB,
                     date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("bare_lf_multipart")), node)
    raw = render(node, LF)
    assert b"\r" not in raw
    msg_case("bare_lf_multipart", "multipart with bare LF line endings: parsed like CRLF "
             "(the LF before a delimiter belongs to the delimiter)", node, eol=LF,
             subject="Bare LF multipart", text=plain, html=html)

    raw = CRLF.join(x.encode() for x in top(
        subject="Only headers, blank line, no body", from_="alice@example.com", to=BOB,
        date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("headers_only"))) + CRLF + CRLF
    add_case("headers_only", raw, expect(
        "headers + empty line, empty body: one text/plain part of size 0",
        subject="Only headers, blank line, no body", **{"from": [addr("alice@example.com")]},
        to=BOB_E, date="2024-03-01T10:20:30+08:00", message_id=mid_e("headers_only"),
        parts=[{"path": "1", "content_type": "text/plain", "charset": None, "filename": None,
                "size": 0}]))

    raw = CRLF.join(x.encode() for x in top(
        subject="No blank line after the headers", from_="alice@example.com", to=BOB,
        date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("no_blank_line"))) + CRLF
    add_case("no_blank_line", raw, expect(
        "headers only, not even the empty separator line (valid per RFC 5322: body optional)",
        subject="No blank line after the headers", **{"from": [addr("alice@example.com")]},
        to=BOB_E, date="2024-03-01T10:20:30+08:00", message_id=mid_e("no_blank_line"),
        parts=[{"path": "1", "content_type": "text/plain", "charset": None, "filename": None,
                "size": 0}]))

    add_case("empty", b"", expect("empty input: no subject, and a warning",
                                  subject=None, warnings_nonempty=True))


# --------------------------------------------------------------------------------------------
# 8. address lists
# --------------------------------------------------------------------------------------------


def address_cases():
    simple("addresses_basic", "quoted names with escaped quotes / comma / apostrophe, bare "
           "addr-spec, angle-addr without name, unquoted multi-word name, folded To list",
           top(subject="addresses", from_='"John \\"Johnny\\" Doe" <john.doe@example.com>',
               to='"Doe, Jane" <jane.doe@example.com>, bob@example.com, <carol@example.org>,\n '
                  "Dave Smith <dave.smith@example.net>",
               cc="\"O'Brien, Pat\" <pat@example.ie>, eve@example.com",
               date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("addresses_basic")),
           subject="addresses", **{"from": [addr("john.doe@example.com", 'John "Johnny" Doe')]},
           to=[addr("jane.doe@example.com", "Doe, Jane"), addr("bob@example.com"),
               addr("carol@example.org"), addr("dave.smith@example.net", "Dave Smith")],
           cc=[addr("pat@example.ie", "O'Brien, Pat"), addr("eve@example.com")],
           warnings_nonempty=False)

    simple("addresses_group", "groups: members flattened into the list (group name not "
           "listed), address after the group, empty group undisclosed-recipients:;",
           top(subject="groups", from_="alice@example.com",
               to='Team: a@example.com, "B" <b@example.com>;, c@example.com',
               cc="undisclosed-recipients:;",
               date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("addresses_group")),
           subject="groups", to=[addr("a@example.com"), addr("b@example.com", "B"),
                                 addr("c@example.com")], cc=[])

    simple("addresses_comments", "comments around addresses: only the addresses are asserted",
           top(subject="comments", from_="alice@example.com (Alice Example)",
               to="bob@example.com (Bob), Carol <carol@example.com> (work),\n "
                  "(leading comment) dave@example.com",
               date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("addresses_comments")),
           subject="comments", from_addresses=["alice@example.com"],
           to_addresses=["bob@example.com", "carol@example.com", "dave@example.com"])

    simple("addresses_smtputf8", "SMTPUTF8 (RFC 6532) raw UTF-8 addresses kept as written; "
           "A-label (xn--) domain kept as written",
           top(subject="internationalised addresses", from_="用户@例子.测试",
               to='"Δοκιμή Χρήστης" <χρήστης@παράδειγμα.δοκιμή>, user@xn--fsqu00a.xn--0zwm56d',
               cc="Zoë <zoë@example.com>",
               date="Fri, 01 Mar 2024 10:20:30 +0800", msgid=mid("addresses_smtputf8")),
           subject="internationalised addresses", **{"from": [addr("用户@例子.测试")]},
           to=[addr("χρήστης@παράδειγμα.δοκιμή", "Δοκιμή Χρήστης"),
               addr("user@xn--fsqu00a.xn--0zwm56d")],
           cc=[addr("zoë@example.com", "Zoë")])


# --------------------------------------------------------------------------------------------
# 9. dates and message ids
# --------------------------------------------------------------------------------------------


def date_cases():
    for name, header, value, comment in [
        ("date_rfc5322", "Fri, 01 Mar 2024 10:20:30 +0800", "2024-03-01T10:20:30+08:00",
         "RFC 5322 date with numeric zone"),
        ("date_obsolete", "1 Mar 24 10:20 EST", "2024-03-01T10:20:00-05:00",
         "obsolete syntax: no weekday, 2-digit year (24 -> 2024), no seconds, EST = -05:00"),
        ("date_comment", "Fri, 01 Mar 2024 10:20:30 +0800 (CST)", "2024-03-01T10:20:30+08:00",
         "trailing comment after the zone"),
        ("date_gmt", "Mon, 3 Jun 2024 08:05:09 GMT", "2024-06-03T08:05:09+00:00",
         "obs-zone GMT, single-digit day"),
        ("date_negative_offset", "Tue, 15 Oct 2024 23:59:59 -0330", "2024-10-15T23:59:59-03:30",
         "negative half-hour offset kept as is (no conversion to UTC)"),
        ("date_garbage", "not a date at all", None, "unparseable date -> null"),
    ]:
        simple(name, comment, top(subject=name, from_="alice@example.com", to=BOB, date=header,
                                  msgid=mid(name)),
               subject=name, date=value, message_id=mid_e(name))

    simple("msgid_brackets", "Message-ID in angle brackets -> value without <>",
           top(subject="msgid", from_="alice@example.com", to=BOB,
               date="Fri, 01 Mar 2024 10:20:30 +0800",
               msgid="<20240301102030.12345@mail.example.com>"),
           subject="msgid", message_id="20240301102030.12345@mail.example.com",
           warnings_nonempty=False)

    raw_headers = [h for h in top(subject="msgid bare", from_="alice@example.com", to=BOB,
                                  date="Fri, 01 Mar 2024 10:20:30 +0800")]
    simple("msgid_bare", "Message-Id (different case) without angle brackets",
           raw_headers + ["Message-Id: 20240301.bare@example.com"],
           subject="msgid bare", message_id="20240301.bare@example.com")


# --------------------------------------------------------------------------------------------
# 10. resource limits
# --------------------------------------------------------------------------------------------


def nesting_bomb():
    depth = 2000
    out = [x.encode() for x in top(subject="nesting bomb", from_="mallory@example.com", to=BOB,
                                   date="Fri, 01 Mar 2024 10:20:30 +0800",
                                   msgid=mid("nesting_bomb"),
                                   extra=['Content-Type: multipart/mixed; boundary="b0000"'])]
    raw = CRLF.join(out) + CRLF + CRLF
    for i in range(depth):
        raw += b'--b%04d\r\nContent-Type: multipart/mixed; boundary="b%04d"\r\n\r\n' % (i, i + 1)
    raw += b"--b%04d\r\nContent-Type: text/plain\r\n\r\ndeep\r\n--b%04d--" % (depth, depth)
    for i in range(depth - 1, -1, -1):
        raw += b"\r\n--b%04d--" % i
    raw += CRLF
    assert len(raw) < 200 * 1024, len(raw)
    add_case("nesting_bomb", raw, expect(
        "%d nested multipart/mixed levels, all boundaries distinct and equally long; the "
        "parser must stop at its depth limit with a warning" % depth,
        subject="nesting bomb", warnings_nonempty=True))


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------


def build():
    charsets()
    encoded_word_cases()
    filename_cases()
    cte_cases()
    multipart_cases()
    broken_cases()
    degenerate_cases()
    address_cases()
    date_cases()
    nesting_bomb()
    assert len(CASES) >= 35, len(CASES)


def files():
    out = {}
    for name, (raw, exp) in sorted(CASES.items()):
        out[name + ".eml"] = raw
        out[name + ".json"] = (json.dumps(exp, ensure_ascii=False, indent=2) + "\n").encode()
    return out


def unescape(s):
    """Python parses raw 8-bit header bytes with surrogateescape; show them as UTF-8."""
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def crosscheck():
    """Print how Python's email package reads each case, where it differs (diagnostic only).

    Known, intended differences (Python 3.11):
      broken_header_no_colon  Python ends the header block at the line without a colon
      charset_gb2312          Python's gb2312 codec is strict; WHATWG maps the label to GBK
      ew_adjacent (from, to)  Python keeps the whitespace between adjacent encoded words in a
                              phrase; RFC 2047 section 6.2 says it is to be ignored
      ew_split_multibyte      Python decodes display-name encoded words one at a time
      raw 8-bit addresses     shown through unescape(); differences there are Python's
    """
    pol = email.policy.default
    for name, (raw, exp) in sorted(CASES.items()):
        if name in CROSSCHECK_SKIP or not raw:
            continue
        try:
            m = email.message_from_bytes(raw, policy=pol)
            diffs = []
            if "subject" in exp and (m["subject"] or None) != exp["subject"]:
                diffs.append(("subject", m["subject"], exp["subject"]))
            for key in ("from", "to", "cc"):
                if key in exp:
                    h = m[key]
                    got = [] if h is None else [
                        {"name": unescape(a.display_name) or None,
                         "address": unescape(a.addr_spec)} for a in h.addresses]
                    if got != exp[key]:
                        diffs.append((key, got, exp[key]))
            if "date" in exp:
                try:
                    dt = m["date"].datetime if m["date"] else None
                    d = dt.isoformat() if dt else None
                except Exception as e:  # noqa: BLE001
                    d = "ERR %s" % e
                if d != exp["date"]:
                    diffs.append(("date", d, exp["date"]))
            if "parts" in exp:
                got = []
                for p in m.walk():
                    if p.is_multipart():
                        continue
                    payload = p.get_payload(decode=True) or b""
                    got.append((p.get_content_type(), p.get_param("charset"), p.get_filename(),
                                len(payload)))
                want = [(x["content_type"], x["charset"], x["filename"], x["size"])
                        for x in exp["parts"]]
                got = [(a, b.lower() if isinstance(b, str) else b, c, d) for a, b, c, d in got]
                if got != want:
                    diffs.append(("parts", got, want))
            if exp.get("text") is not None:
                for p in m.walk():
                    if p.get_content_type() == "text/plain" and not p.is_multipart():
                        try:
                            t = p.get_content()
                        except Exception as e:  # noqa: BLE001
                            t = "ERR %s" % e
                        if t != exp["text"]:
                            diffs.append(("text", t, exp["text"]))
                        break
            for k, got, want in diffs:
                print("%-28s %-8s python=%r\n%37s expect=%r" % (name, k, got, "", want))
        except Exception as e:  # noqa: BLE001
            print("%-28s python failed: %s" % (name, e))


def whatwg():
    """Decode every recorded charset vector with node's (WHATWG) TextDecoder."""
    js = r"""
const vs = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'));
let bad = 0;
for (const [label, hex, want] of vs) {
  let got;
  try { got = new TextDecoder(label, {fatal: false}).decode(Buffer.from(hex, 'hex')); }
  catch (e) { console.log('SKIP ' + label + ': ' + e.message); continue; }
  if (got !== want) { bad++; console.log('MISMATCH ' + label + ' ' + JSON.stringify(got) +
                                         ' != ' + JSON.stringify(want)); }
}
console.log(vs.length + ' vectors, ' + bad + ' mismatches');
process.exit(bad ? 1 : 0);
"""
    # ICU's iso-2022-jp decoder is not WHATWG-exact (it flags the final ESC ( B); utf-7 is
    # not a WHATWG encoding at all.
    # Node 20's TextDecoder("windows-1252") decodes as ISO-8859-1 (a Node bug), so those
    # vectors are skipped too; Python's cp1252 agrees with WHATWG for every byte used here.
    vs = [(l, d.hex(), t) for l, d, t in VECTORS
          if l.lower() not in ("utf-7", "iso-2022-jp", "windows-1252")]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(vs, f)
    try:
        return subprocess.run(["node", "-e", js, f.name]).returncode
    finally:
        os.unlink(f.name)


def main(argv):
    build()
    want = files()
    if "--check" in argv:
        bad = []
        for fname, data in want.items():
            path = os.path.join(HERE, fname)
            if not os.path.exists(path) or open(path, "rb").read() != data:
                bad.append(fname)
        for fname in os.listdir(HERE):
            if fname.endswith((".eml", ".json")) and fname not in want:
                bad.append(fname + " (stale)")
        for b in bad:
            print("differs: " + b)
        print("%d cases, %d files differ" % (len(CASES), len(bad)))
        rc = 1 if bad else 0
    else:
        for fname in os.listdir(HERE):
            if fname.endswith((".eml", ".json")) and fname not in want:
                os.unlink(os.path.join(HERE, fname))
        for fname, data in want.items():
            with open(os.path.join(HERE, fname), "wb") as f:
                f.write(data)
        print("wrote %d cases to %s" % (len(CASES), HERE))
        rc = 0
    if "--crosscheck" in argv:
        crosscheck()
    if "--whatwg" in argv:
        rc = rc or whatwg()
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
