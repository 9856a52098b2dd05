//! IMAP: command decoding against `imap-codec` 2.0.0-alpha.10 on the same command stream, and
//! `FETCH 1:1000 (BODYSTRUCTURE)` — rendered in process through `mailcore_imap::fetch` (parse +
//! render per message) and end to end through a running `mailcore_imap::server::serve` over
//! loopback TCP with an embedded store.
//!
//! The decoding inputs are whole commands, literals included: the APPEND uses a LITERAL+ (`{n+}`)
//! literal so both decoders take it in one pass. imap-codec 2.0.0-alpha.10 has no LIST-EXTENDED
//! (`LIST "" "*" RETURN (SPECIAL-USE)` fails to decode there), so the shared set uses the plain
//! `LIST "" "*"`; the setup prints both decoders' verdict on the RETURN form.
#![allow(missing_docs)] // criterion_group! generates undocumented items
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use imap_codec::CommandCodec;
use imap_codec::decode::{CommandDecodeError, Decoder as _};
use mailcore::hook::HookChain;
use mailcore_imap::command::{Decoded, Decoder};
use mailcore_imap::literal::FramerLimits;
use mailcore_imap::server::{ListenerConfig, serve};
use mailcore_imap::session::Limits;
use mailcore_store::Backend;
use mailcore_store::mailbox::{INBOX, NewMessage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const APPEND_BODY: &str = "From: Alice <alice@example.org>\r\n\
To: bob@example.com\r\n\
Subject: Lunch on Friday?\r\n\
Date: Fri, 01 Mar 2024 10:20:30 +0800\r\n\
Message-ID: <lunch.42@example.org>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Are you free for lunch on Friday? The usual place at noon.\r\n";

/// `(name, command line(s))`, each a whole command with its CRLF.
fn commands() -> Vec<(&'static str, Vec<u8>)> {
    let append = format!(
        "a6 APPEND Sent (\\Seen) \"01-Mar-2024 10:20:30 +0800\" {{{}+}}\r\n{APPEND_BODY}\r\n",
        APPEND_BODY.len()
    );
    [
        ("login", "a1 LOGIN \"bob@example.com\" \"correct horse\"\r\n".to_owned()),
        ("select", "a2 SELECT INBOX\r\n".to_owned()),
        (
            "uid_fetch",
            "a3 UID FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE)])\r\n"
                .to_owned(),
        ),
        (
            "uid_search",
            "a4 UID SEARCH SINCE 1-Feb-2024 OR FROM \"alice@example.org\" FROM \"carol@example.com\" UNDELETED\r\n"
                .to_owned(),
        ),
        ("uid_store", "a5 UID STORE 1:5,9 +FLAGS.SILENT (\\Seen)\r\n".to_owned()),
        ("append", append),
        ("uid_move", "a7 UID MOVE 42:45 Archive\r\n".to_owned()),
        ("idle", "a8 IDLE\r\n".to_owned()),
        ("list", "a9 LIST \"\" \"*\"\r\n".to_owned()),
        ("noop", "a10 NOOP\r\n".to_owned()),
    ]
    .into_iter()
    .map(|(n, l)| (n, l.into_bytes()))
    .collect()
}

/// Decodes a whole stream with a fresh mailcore decoder; returns the number of commands.
fn mailcore_decode(stream: &[u8]) -> usize {
    let mut d = Decoder::new(FramerLimits::default());
    d.push(stream);
    let mut n = 0;
    loop {
        match d.next() {
            Decoded::Command { tag, command } => {
                black_box((tag, command));
                n += 1;
            }
            Decoded::NeedMore => return n,
            other => panic!("mailcore: {other:?}"),
        }
    }
}

/// Decodes a whole stream with imap-codec; returns the number of commands.
fn imap_codec_decode(mut stream: &[u8]) -> usize {
    let codec = CommandCodec::default();
    let mut n = 0;
    while !stream.is_empty() {
        match codec.decode(stream) {
            Ok((rest, command)) => {
                black_box(command);
                n += 1;
                stream = rest;
            }
            Err(e) => panic!("imap-codec: {e:?}"),
        }
    }
    n
}

fn command_parse(c: &mut Criterion) {
    let commands = commands();
    let stream: Vec<u8> = commands.iter().flat_map(|(_, l)| l.clone()).collect();
    // Both decoders must take every command, outside the timed loops.
    assert_eq!(mailcore_decode(&stream), commands.len());
    assert_eq!(imap_codec_decode(&stream), commands.len());
    for (name, line) in &commands {
        assert_eq!(mailcore_decode(line), 1, "{name}");
        assert_eq!(imap_codec_decode(line), 1, "{name}");
    }
    let list_extended = b"a9 LIST \"\" \"*\" RETURN (SPECIAL-USE)\r\n";
    let mut d = Decoder::new(FramerLimits::default());
    d.push(list_extended);
    eprintln!(
        "LIST \"\" \"*\" RETURN (SPECIAL-USE): mailcore {}, imap-codec {} (not in the shared set)",
        if matches!(d.next(), Decoded::Command { .. }) {
            "decodes it"
        } else {
            "fails"
        },
        match CommandCodec::default().decode(list_extended) {
            Ok(([], _)) => "decodes it",
            Ok(_) => "leaves input over",
            Err(CommandDecodeError::Failed) => "fails",
            Err(_) => "wants more input",
        }
    );

    let mut group = c.benchmark_group("imap_command_parse");
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    group.throughput(Throughput::Elements(commands.len() as u64));
    group.bench_with_input(BenchmarkId::new("mailcore", "all_10"), &stream, |b, s| {
        b.iter(|| assert_eq!(mailcore_decode(s), 10))
    });
    group.bench_with_input(BenchmarkId::new("imap-codec", "all_10"), &stream, |b, s| {
        b.iter(|| assert_eq!(imap_codec_decode(s), 10))
    });
    group.throughput(Throughput::Elements(1));
    for (name, line) in &commands {
        group.bench_with_input(BenchmarkId::new("mailcore", name), line, |b, l| {
            b.iter(|| mailcore_decode(l))
        });
        group.bench_with_input(BenchmarkId::new("imap-codec", name), line, |b, l| {
            b.iter(|| imap_codec_decode(l))
        });
    }
    group.finish();
}

const MESSAGES: usize = 1000;

/// 1,000 messages cycling the shared corpus (plain, multipart/alternative, attachment with a
/// nested message/rfc822, 200 parts), each with its own Message-ID line in front.
fn mailbox_messages() -> Vec<Bytes> {
    let inputs = mailcore_benches::inputs();
    (0..MESSAGES)
        .map(|i| {
            let mut m = format!("X-Bench-Seq: {i}\r\n").into_bytes();
            m.extend_from_slice(&inputs[i % inputs.len()].bytes);
            Bytes::from(m)
        })
        .collect()
}

/// What a FETCH of BODYSTRUCTURE produces in process: parse each message, write its untagged
/// FETCH line.
fn render_bodystructures(messages: &[Bytes], out: &mut Vec<u8>) {
    out.clear();
    for (i, raw) in messages.iter().enumerate() {
        let msg = mailcore::message::Message::parse(raw.clone());
        out.extend_from_slice(format!("* {} FETCH (BODYSTRUCTURE ", i + 1).as_bytes());
        mailcore_imap::fetch::write_body_structure(out, &msg.root(), true);
        out.extend_from_slice(b")\r\n");
    }
}

/// Reads until the tagged response of `tag`; returns the bytes read.
async fn read_until_tagged(stream: &mut TcpStream, buf: &mut Vec<u8>, tag: &str) -> usize {
    buf.clear();
    let ok = format!("{tag} OK");
    let mut line_start = 0;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed: {}", String::from_utf8_lossy(buf));
        let scan_from = buf.len();
        buf.extend_from_slice(&chunk[..n]);
        for i in memchr::memchr_iter(b'\n', &buf[scan_from..]) {
            let end = scan_from + i + 1;
            let line = &buf[line_start..end];
            if line.starts_with(tag.as_bytes()) && line.get(tag.len()) == Some(&b' ') {
                assert!(
                    line.starts_with(ok.as_bytes()),
                    "{}",
                    String::from_utf8_lossy(line)
                );
                return buf.len();
            }
            line_start = end;
        }
    }
}

fn fetch_bodystructure(c: &mut Criterion) {
    let messages = mailbox_messages();
    let total: usize = messages.iter().map(Bytes::len).sum();
    let mut rendered = Vec::new();
    render_bodystructures(&messages, &mut rendered);
    assert_eq!(
        rendered.windows(7).filter(|w| w == b" FETCH ").count(),
        MESSAGES
    );

    // End to end: embedded store with the same 1,000 messages, a plaintext listener on
    // 127.0.0.1:0 and one logged-in client with INBOX selected.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("mailcore-bench-imap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (store, addr) = rt.block_on(async {
        let store: Arc<dyn Backend> = Arc::new(
            mailcore_store::embedded::Embedded::open(&dir)
                .await
                .unwrap(),
        );
        let s = store.as_ref();
        mailcore_store::provision::add_domain(s, "bench", &"example.com".parse().unwrap())
            .await
            .unwrap();
        let account = mailcore_store::provision::add_account(
            s,
            &"u@example.com".parse().unwrap(),
            "pw",
            None,
            None,
        )
        .await
        .unwrap();
        let inbox = s.mailbox(account.id, INBOX).await.unwrap().unwrap().id;
        // 16 writers so that the setup does not wait on 1,000 sequential fsyncs; the order in
        // the mailbox does not matter to the measurement.
        let mut tasks = Vec::new();
        for w in 0..16 {
            let store = store.clone();
            let mine: Vec<Bytes> = messages.iter().skip(w).step_by(16).cloned().collect();
            tasks.push(tokio::spawn(async move {
                for raw in mine {
                    let m = NewMessage {
                        raw,
                        flags: Default::default(),
                        internal_date: 1_709_259_630,
                    };
                    store.append(inbox, m).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = ListenerConfig::new(false, None, Limits::default()).allow_plaintext_auth(true);
        tokio::spawn(serve(listener, config, store.clone(), HookChain::new()));
        (store, addr)
    });
    let mut client = rt.block_on(async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        let mut buf = Vec::new();
        let mut greeting = [0u8; 512];
        let n = s.read(&mut greeting).await.unwrap();
        assert!(greeting[..n].starts_with(b"* OK"));
        s.write_all(b"l LOGIN u@example.com pw\r\n").await.unwrap();
        read_until_tagged(&mut s, &mut buf, "l").await;
        s.write_all(b"s SELECT INBOX\r\n").await.unwrap();
        read_until_tagged(&mut s, &mut buf, "s").await;
        let exists = format!("* {MESSAGES} EXISTS");
        assert!(
            buf.windows(exists.len()).any(|w| w == exists.as_bytes()),
            "{}",
            String::from_utf8_lossy(&buf)
        );
        // One FETCH outside the timed loop: every message answered with a BODYSTRUCTURE.
        s.write_all(b"f FETCH 1:1000 (BODYSTRUCTURE)\r\n")
            .await
            .unwrap();
        read_until_tagged(&mut s, &mut buf, "f").await;
        assert_eq!(
            buf.windows(21)
                .filter(|w| w == b" FETCH (BODYSTRUCTURE")
                .count(),
            MESSAGES,
            "{}",
            String::from_utf8_lossy(&buf[..buf.len().min(2000)])
        );
        eprintln!(
            "FETCH 1:1000 (BODYSTRUCTURE): {} bytes over the wire (in process: {} bytes) for \
             {total} bytes of messages",
            buf.len(),
            rendered.len()
        );
        s
    });

    let mut group = c.benchmark_group("imap_fetch_bodystructure");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(MESSAGES as u64));
    group.bench_function(BenchmarkId::new("mailcore_in_process", "1000_msgs"), |b| {
        let mut out = Vec::with_capacity(rendered.len());
        b.iter(|| {
            render_bodystructures(&messages, &mut out);
            black_box(out.len())
        })
    });
    group.bench_function(BenchmarkId::new("mailcore_end_to_end", "1000_msgs"), |b| {
        let mut buf = Vec::new();
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    client
                        .write_all(b"f FETCH 1:1000 (BODYSTRUCTURE)\r\n")
                        .await
                        .unwrap();
                    black_box(read_until_tagged(&mut client, &mut buf, "f").await);
                }
                start.elapsed()
            })
        })
    });
    group.finish();
    drop(client);
    drop(store);
    drop(rt);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, command_parse, fetch_bodystructure);
criterion_main!(benches);
