//! Store throughput: durable appends per second with 1 and 32 concurrent writers, and message
//! fetch throughput, for the embedded backend and (when `MAILCORE_TEST_PG` is set) PostgreSQL.
#![allow(missing_docs)] // criterion_group! generates undocumented items
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mailcore_store::Backend;
use mailcore_store::directory::{AccountKind, Edition, NewAccount};
use mailcore_store::mailbox::{INBOX, MailboxId, NewMessage, Uid};

fn message(i: usize) -> Bytes {
    let body = "Quarterly numbers attached, please review before Friday.\r\n".repeat(60);
    Bytes::from(format!(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: bench {i}\r\nMessage-ID: <{i}.{}@example.com>\r\n\r\n{body}",
        std::process::id()
    ))
}

struct Target {
    name: &'static str,
    store: Arc<dyn Backend>,
    inbox: MailboxId,
}

async fn prepare(store: Arc<dyn Backend>, name: &'static str) -> Target {
    let org = store
        .create_org("bench", Edition::Professional)
        .await
        .unwrap();
    store
        .add_domain(org.id, &"example.com".parse().unwrap())
        .await
        .unwrap();
    let acct = store
        .create_account(NewAccount {
            org: org.id,
            address: "b@example.com".parse().unwrap(),
            display_name: None,
            password_hash: None,
            quota_bytes: None,
            kind: AccountKind::Member,
        })
        .await
        .unwrap();
    store.ensure_default_mailboxes(acct.id).await.unwrap();
    let inbox = store.mailbox(acct.id, INBOX).await.unwrap().unwrap().id;
    Target { name, store, inbox }
}

type Pg = Option<Arc<mailcore_store::postgres::Postgres>>;

async fn targets(dir: &std::path::Path) -> (Vec<Target>, Pg) {
    let _ = std::fs::remove_dir_all(dir);
    let embedded = mailcore_store::embedded::Embedded::open(dir).await.unwrap();
    let mut out = vec![prepare(Arc::new(embedded), "embedded").await];
    let mut pg_handle = None;
    if let Ok(url) = std::env::var("MAILCORE_TEST_PG") {
        let schema = format!("bench_{}", std::process::id());
        let pg = Arc::new(
            mailcore_store::postgres::Postgres::connect_schema(&url, &schema)
                .await
                .unwrap(),
        );
        pg_handle = Some(pg.clone());
        out.push(prepare(pg, "postgres").await);
    }
    (out, pg_handle)
}

fn appends(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("mailcore-bench-store-{}", std::process::id()));
    let (targets, pg) = rt.block_on(targets(&dir));
    let mut group = c.benchmark_group("store_append");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for writers in [1usize, 32] {
        let per_iter = 64;
        group.throughput(Throughput::Elements(per_iter as u64));
        for t in &targets {
            group.bench_with_input(
                BenchmarkId::new(t.name, format!("{writers}_writers")),
                &writers,
                |b, &writers| {
                    b.iter_custom(|iters| {
                        rt.block_on(async {
                            let start = Instant::now();
                            for _ in 0..iters {
                                let mut tasks = Vec::new();
                                for w in 0..writers {
                                    let store = t.store.clone();
                                    let inbox = t.inbox;
                                    tasks.push(tokio::spawn(async move {
                                        for i in (w..per_iter).step_by(writers) {
                                            let m = NewMessage {
                                                raw: message(i),
                                                flags: Default::default(),
                                                internal_date: 0,
                                            };
                                            store.append(inbox, m).await.unwrap();
                                        }
                                    }));
                                }
                                for task in tasks {
                                    task.await.unwrap();
                                }
                            }
                            start.elapsed()
                        })
                    })
                },
            );
        }
    }
    group.finish();

    let mut group = c.benchmark_group("store_fetch");
    group.sample_size(10);
    let fetch = 200usize;
    group.throughput(Throughput::Elements(fetch as u64));
    for t in &targets {
        let uids: Vec<Uid> = rt.block_on(async {
            t.store
                .messages(t.inbox, 1..=u32::MAX)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.uid)
                .take(fetch)
                .collect()
        });
        group.bench_function(BenchmarkId::new(t.name, "read_message"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    for uid in &uids {
                        std::hint::black_box(t.store.read_message(t.inbox, *uid).await.unwrap());
                    }
                })
            })
        });
    }
    group.finish();
    drop(targets);
    if let Some(pg) = pg {
        rt.block_on(pg.drop_schema()).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, appends);
criterion_main!(benches);
