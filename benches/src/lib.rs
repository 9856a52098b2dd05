//! # mailcore-benches
//!
//! Criterion benchmarks that measure mailcore against named peers on the same inputs, and the
//! input corpus they share. Run with `cargo bench -p mailcore-benches`; results are recorded in
//! `BENCHMARKS.md` as ratios measured in one run on one machine.

/// A named benchmark input.
pub struct Input {
    /// Short name used in benchmark ids.
    pub name: &'static str,
    /// The raw message.
    pub bytes: Vec<u8>,
}

fn lorem(lines: usize, width: usize) -> String {
    const WORDS: [&str; 12] = [
        "mail",
        "quarterly",
        "report",
        "attached",
        "please",
        "review",
        "the",
        "numbers",
        "before",
        "friday",
        "thanks",
        "regards",
    ];
    let mut out = String::new();
    let mut w = 0;
    for _ in 0..lines {
        let mut line = String::new();
        while line.len() < width {
            line.push_str(WORDS[w % WORDS.len()]);
            line.push(' ');
            w += 1;
        }
        out.push_str(line.trim_end());
        out.push_str("\r\n");
    }
    out
}

fn base64_block(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for i in 0..n {
        out.push(ALPHABET[(i * 7 + i / 13) % 64] as char);
        if i % 76 == 75 {
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out
}

const HEADERS: &str = "Return-Path: <alice@example.com>\r\n\
Received: from mx.example.org (mx.example.org [192.0.2.10])\r\n\tby mail.example.com with ESMTPS id 4Xk2\r\n\tfor <bob@example.com>; Fri, 01 Mar 2024 10:20:30 +0800\r\n\
Received: from [10.0.0.5] by mx.example.org; Fri, 01 Mar 2024 10:20:29 +0800\r\n\
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=sel;\r\n\th=from:to:subject:date; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n\tb=AuUoFEfDxTDkHlLXSZEpZj79LICEps6eda7W3deTVFOk4yAUoqOB4nujc7YopdG5dWLSdNg6x\r\n\
From: =?UTF-8?B?5byg5LiJ?= <zhangsan@example.org>\r\n\
To: \"Bob Smith\" <bob@example.com>, Carol <carol@example.com>\r\n\
Cc: Team: dave@example.com, erin@example.com;\r\n\
Subject: =?GB2312?B?yc+8vrbIsajG5w==?= =?UTF-8?Q?_Q3_report?=\r\n\
Date: Fri, 01 Mar 2024 10:20:30 +0800\r\n\
Message-ID: <20240301102030.4Xk2@example.org>\r\n\
MIME-Version: 1.0\r\n";

/// The shared inputs: a small plain message, a multipart/alternative newsletter, a message
/// with a 64 KiB base64 attachment and a nested message/rfc822, and a message with many parts.
pub fn inputs() -> Vec<Input> {
    let plain = format!(
        "{HEADERS}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}",
        lorem(40, 70)
    );
    let alternative = format!(
        "{HEADERS}Content-Type: multipart/alternative; boundary=\"alt-1\"\r\n\r\n\
         --alt-1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{}\
         --alt-1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>{}</p></body></html>\r\n\
         --alt-1--\r\n",
        lorem(60, 72),
        lorem(120, 72)
    );
    let attachment = format!(
        "{HEADERS}Content-Type: multipart/mixed; boundary=\"mix-1\"\r\n\r\n\
         --mix-1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\
         --mix-1\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Disposition: attachment; filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\
         --mix-1\r\nContent-Type: message/rfc822\r\n\r\n{HEADERS}Content-Type: text/plain\r\n\r\n{}\
         --mix-1--\r\n",
        lorem(10, 70),
        base64_block(64 * 1024 * 4 / 3),
        lorem(10, 70)
    );
    let mut many = format!("{HEADERS}Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n");
    for i in 0..200 {
        many.push_str(&format!(
            "--m\r\nContent-Type: text/plain; charset=us-ascii; name=\"part{i}.txt\"\r\n\r\npart {i}\r\n"
        ));
    }
    many.push_str("--m--\r\n");
    [
        ("plain", plain),
        ("alternative", alternative),
        ("attachment", attachment),
        ("many_parts", many),
    ]
    .into_iter()
    .map(|(name, s)| Input {
        name,
        bytes: s.into_bytes(),
    })
    .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn inputs_parse_cleanly() {
        for input in super::inputs() {
            let msg = mailcore::message::Message::parse(input.bytes.clone());
            assert!(
                msg.warnings().is_empty(),
                "{}: {:?}",
                input.name,
                msg.warnings()
            );
            assert!(
                msg.subject().is_some_and(|s| s.contains("Q3 report")),
                "{}",
                input.name
            );
        }
    }
}
