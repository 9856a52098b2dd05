//! SMTP: command parsing against `smtp-proto` 0.2 on the same lines, DATA dot-unstuffing
//! throughput against smtp-proto's `DataReceiver`, and the in-process delivery path
//! (session → hooks → durable store) per message.
#![allow(missing_docs)] // criterion_group! generates undocumented items
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mailcore::hook::{HookChain, Protocol, SessionInfo};
use mailcore_smtp::data::{DotUnstuffer, Progress, dot_stuff};
use mailcore_smtp::delivery::{DeliveryConfig, LocalDelivery};
use mailcore_smtp::server::{Connection, Handler};
use mailcore_smtp::session::{Mode, Session, SessionConfig};

const LINES: [&str; 6] = [
    "EHLO mail.example.org",
    "MAIL FROM:<alice.smith@example.org> SIZE=48213 BODY=8BITMIME",
    "RCPT TO:<bob@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.com",
    "RCPT TO:<\"carol jones\"@example.com>",
    "DATA",
    "QUIT",
];

fn commands(c: &mut Criterion) {
    let with_crlf: Vec<Vec<u8>> = LINES
        .iter()
        .map(|l| format!("{l}\r\n").into_bytes())
        .collect();
    let mut group = c.benchmark_group("smtp_command_parse");
    group.throughput(Throughput::Elements(LINES.len() as u64));
    group.bench_function("mailcore", |b| {
        b.iter(|| {
            for l in LINES {
                black_box(mailcore_smtp::command::parse(l.as_bytes()).unwrap());
            }
        })
    });
    group.bench_function("smtp-proto", |b| {
        b.iter(|| {
            for l in &with_crlf {
                black_box(smtp_proto::Request::parse(&mut l.iter()).unwrap());
            }
        })
    });
    group.finish();
}

fn message(size: usize) -> Vec<u8> {
    let mut m = b"From: a@example.org\r\nTo: b@example.com\r\nSubject: bench\r\n\r\n".to_vec();
    let mut i = 0;
    while m.len() < size {
        if i % 20 == 0 {
            m.extend_from_slice(b".a line that starts with a dot\r\n");
        } else {
            m.extend_from_slice(
                b"The quarterly numbers are attached; please review them before Friday.\r\n",
            );
        }
        i += 1;
    }
    m
}

fn unstuffing(c: &mut Criterion) {
    let wire = dot_stuff(&message(1 << 20));
    let mut group = c.benchmark_group("smtp_data_unstuff");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("mailcore", |b| {
        b.iter(|| {
            let mut u = DotUnstuffer::new(64 << 20);
            let p = u.feed(&wire);
            assert!(matches!(p, Progress::Done { .. }));
            black_box(u.into_message().len())
        })
    });
    group.bench_function("smtp-proto", |b| {
        b.iter(|| {
            let mut r = smtp_proto::request::receiver::DataReceiver::new();
            let mut out = Vec::with_capacity(wire.len());
            let done = r.ingest(&mut wire.iter(), &mut out);
            assert!(done);
            black_box(out.len())
        })
    });
    group.finish();
}

fn delivery(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("mailcore-bench-smtp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store: Arc<dyn mailcore_store::Backend> = rt.block_on(async {
        Arc::new(
            mailcore_store::embedded::Embedded::open(&dir)
                .await
                .unwrap(),
        )
    });
    rt.block_on(async {
        let s = store.as_ref();
        mailcore_store::provision::add_domain(s, "bench", &"example.com".parse().unwrap())
            .await
            .unwrap();
        mailcore_store::provision::add_account(
            s,
            &"bob@example.com".parse().unwrap(),
            "pw",
            None,
            None,
        )
        .await
        .unwrap();
    });
    let handler = LocalDelivery::new(
        store.clone(),
        HookChain::new(),
        DeliveryConfig::new("mx.example.com"),
    );
    let config = Arc::new(SessionConfig::new("mx.example.com", Mode::Mx));
    let body = String::from_utf8(message(5 * 1024)).unwrap();
    let script = format!(
        "EHLO c.example.org\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n{body}.\r\nQUIT\r\n"
    );
    let mut group = c.benchmark_group("smtp_delivery_path");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(1));
    group.bench_with_input(
        BenchmarkId::new("mailcore", "5KiB_durable"),
        &script,
        |b, script| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let mut session = Session::new(config.clone(), false);
                        let mut info = SessionInfo::new(1, Protocol::Smtp);
                        info.peer = Some("127.0.0.1:40000".parse().unwrap());
                        let mut conn = Connection {
                            info,
                            envelope: None,
                        };
                        session.handle_input(script.as_bytes());
                        while let Some(ev) = session.poll_event() {
                            let answer = handler.event(&mut conn, ev).await;
                            session.answer(answer);
                        }
                        let out = session.take_output();
                        assert!(
                            out.windows(9).any(|w| w == b"250 2.0.0"),
                            "{}",
                            String::from_utf8_lossy(&out)
                        );
                    }
                    start.elapsed()
                })
            })
        },
    );
    group.finish();
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, commands, unstuffing, delivery);
criterion_main!(benches);
