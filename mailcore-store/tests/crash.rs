//! Crash test of the embedded store: a child process appends messages and acknowledges each
//! one on stdout once `append` has returned; the parent kills it with SIGKILL at a random
//! moment, reopens the store, checks it and verifies that every acknowledged message is there,
//! byte for byte. Repeated many times on the same directory, so damage would accumulate.
//!
//! The child is this test binary re-executed with `--exact crash_child` and
//! `MAILCORE_CRASH_CHILD=<dir>`; without that variable `crash_child` does nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mailcore_store::check::Maintenance;
use mailcore_store::directory::DirectoryStore;
use mailcore_store::directory::{AccountKind, Edition, NewAccount};
use mailcore_store::embedded::Embedded;
use mailcore_store::mailbox::MailStore;
use mailcore_store::mailbox::{AccountId, Flags, INBOX, MailboxId, NewMessage};
use mailcore_store::{Backend, Result};

const CHILD_ENV: &str = "MAILCORE_CRASH_CHILD";
const START_ENV: &str = "MAILCORE_CRASH_START";
const ADDRESS: &str = "crash@crash.example";
/// Kills to perform (at least).
const KILLS: usize = 36;
/// Stop starting new rounds after this long (once at least `MIN_KILLS` are done).
const BUDGET: Duration = Duration::from_secs(45);
const MIN_KILLS: usize = 30;
/// A child that was never killed stops by itself after this long.
const CHILD_LIFETIME: Duration = Duration::from_secs(20);

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// The message number `counter`: 100 B to 200 KB, mostly small, regenerated from the counter.
fn content(counter: u64) -> Bytes {
    let r = xorshift(counter.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let size = match r % 20 {
        0 => 50_000 + (r >> 8) % 150_000,
        1..=5 => 4_000 + (r >> 8) % 46_000,
        _ => 100 + (r >> 8) % 3_900,
    } as usize;
    let mut out = format!("Subject: crash {counter}\r\n\r\n").into_bytes();
    let mut x = r;
    while out.len() < size {
        if out.len() % 72 == 70 {
            out.extend_from_slice(b"\r\n");
        } else {
            x = xorshift(x);
            out.push(b'A' + (x % 26) as u8);
        }
    }
    out.truncate(size);
    Bytes::from(out)
}

/// The counter in a message's Subject.
fn counter_of(raw: &[u8]) -> Option<u64> {
    let line = raw.split(|b| *b == b'\r').next()?;
    std::str::from_utf8(line)
        .ok()?
        .strip_prefix("Subject: crash ")?
        .parse()
        .ok()
}

async fn inbox(store: &dyn Backend) -> Result<(AccountId, MailboxId, u32)> {
    let account = store
        .account_by_address(&ADDRESS.parse().unwrap())
        .await?
        .expect("account");
    let inbox = store.mailbox(account.id, INBOX).await?.expect("INBOX");
    Ok((account.id, inbox.id, inbox.uid_validity))
}

/// The child: appends forever, acknowledging each durable append.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let start: u64 = std::env::var(START_ENV).unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Embedded::open(Path::new(&dir)).await.unwrap();
        let (_, inbox, _) = inbox(&store).await.unwrap();
        let began = Instant::now();
        let mut out = std::io::stdout().lock();
        let mut counter = start;
        while began.elapsed() < CHILD_LIFETIME {
            let message = NewMessage {
                raw: content(counter),
                flags: Flags::default(),
                internal_date: 1_700_000_000,
            };
            let done = store.append(inbox, message).await.unwrap();
            writeln!(out, "ACK {} {counter}", done.uid.0).unwrap();
            out.flush().unwrap();
            counter += 1;
        }
    });
}

async fn setup(dir: &Path) -> u32 {
    let store = Embedded::open(dir).await.unwrap();
    let org = store.create_org("Crash", Edition::Basic).await.unwrap();
    store
        .add_domain(org.id, &"crash.example".parse().unwrap())
        .await
        .unwrap();
    let account = store
        .create_account(NewAccount {
            org: org.id,
            address: ADDRESS.parse().unwrap(),
            display_name: None,
            password_hash: None,
            quota_bytes: None,
            kind: AccountKind::Member,
        })
        .await
        .unwrap();
    store.ensure_default_mailboxes(account.id).await.unwrap();
    inbox(&store).await.unwrap().2
}

/// Opens the store after a kill and verifies it; returns the number of messages in it.
///
/// Every acknowledged UID must be listed; message contents are compared for UIDs above
/// `from` (the ones new since the last full pass), all of them when `from` is 0.
async fn verify(
    dir: &Path,
    acked: &BTreeMap<u32, u64>,
    uid_validity: u32,
    round: usize,
    from: u32,
) -> usize {
    let store = Embedded::open(dir)
        .await
        .unwrap_or_else(|e| panic!("round {round}: reopening after SIGKILL: {e}"));
    let report = store.check(false).await.unwrap();
    assert!(
        !report.is_damaged() && report.problems.is_empty(),
        "round {round}: check after SIGKILL: {:?}",
        report.problems
    );
    let (_, inbox, validity) = inbox(&store).await.unwrap();
    assert_eq!(validity, uid_validity, "round {round}: UIDVALIDITY changed");
    let metas = store.messages(inbox, 1..=u32::MAX).await.unwrap();
    let info = store.mailbox_by_id(inbox).await.unwrap().unwrap();
    assert_eq!(
        info.messages as usize,
        metas.len(),
        "round {round}: message counter"
    );
    if let Some(last) = metas.last() {
        assert!(
            info.uid_next > last.uid,
            "round {round}: UIDNEXT {:?} not above {:?}",
            info.uid_next,
            last.uid
        );
    }
    let present: BTreeMap<u32, u64> = metas.iter().map(|m| (m.uid.0, m.size)).collect();
    for (uid, counter) in acked {
        assert!(
            present.contains_key(uid),
            "round {round}: acknowledged UID {uid} (message {counter}) lost"
        );
    }
    // Every message present, acknowledged or not, is intact.
    for meta in metas.iter().filter(|m| m.uid.0 > from) {
        let raw = store
            .read_message(inbox, meta.uid)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("round {round}: UID {} listed but unreadable", meta.uid.0));
        let counter = counter_of(&raw)
            .unwrap_or_else(|| panic!("round {round}: UID {} has a damaged header", meta.uid.0));
        if let Some(want) = acked.get(&meta.uid.0) {
            assert_eq!(
                counter, *want,
                "round {round}: UID {} holds another message",
                meta.uid.0
            );
        }
        assert!(
            raw == content(counter),
            "round {round}: UID {} (message {counter}) damaged",
            meta.uid.0
        );
        assert_eq!(
            meta.size,
            raw.len() as u64,
            "round {round}: size of UID {}",
            meta.uid.0
        );
    }
    metas.len()
}

#[test]
fn crash_recovery() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = xorshift(seed | 1);
    let dir: PathBuf =
        std::env::temp_dir().join(format!("mailcore-crash-{}-{seed:x}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let uid_validity = rt.block_on(setup(&dir));
    let exe = std::env::current_exe().unwrap();
    let began = Instant::now();
    let mut acked: BTreeMap<u32, u64> = BTreeMap::new();
    let mut kills = 0;
    let mut stored = 0;
    let mut verified = 0u32;
    while kills < KILLS && (kills < MIN_KILLS || began.elapsed() < BUDGET) {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &dir)
            .env(START_ENV, (kills as u64 * 1_000_000).to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            // Only complete lines count: a line cut by the kill is not an acknowledgement.
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if line.ends_with('\n') {
                    lines.push(line.trim_end().to_owned());
                }
                line.clear();
            }
            lines
        });
        let errors = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        rng = xorshift(rng);
        let wait = Duration::from_millis(20 + rng % 281);
        std::thread::sleep(wait);
        if let Some(status) = child.try_wait().unwrap() {
            let lines = reader.join().unwrap();
            panic!(
                "round {kills}: the child exited by itself ({status}) after {wait:?}\nstdout: {lines:?}\nstderr: {}",
                errors.join().unwrap()
            );
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        let stderr = errors.join().unwrap();
        let previous_max = acked.keys().next_back().copied().unwrap_or(0);
        let mut last = previous_max;
        let mut new = 0;
        for line in lines.iter().filter(|l| l.starts_with("ACK ")) {
            let mut parts = line.split(' ').skip(1);
            let uid: u32 = parts.next().and_then(|p| p.parse().ok()).expect(line);
            let counter: u64 = parts.next().and_then(|p| p.parse().ok()).expect(line);
            assert!(
                uid > last,
                "round {kills}: UID {uid} acknowledged after UID {last} (reused or out of order)\nstderr: {stderr}"
            );
            last = uid;
            acked.insert(uid, counter);
            new += 1;
        }
        // Contents: what is new since the last round, and everything every tenth round.
        let from = if kills % 10 == 9 { 0 } else { verified };
        stored = rt.block_on(verify(&dir, &acked, uid_validity, kills, from));
        verified = last;
        println!("round {kills}: killed after {wait:?}, {new} new acknowledged, {stored} stored");
        kills += 1;
    }
    rt.block_on(verify(&dir, &acked, uid_validity, kills, 0));
    println!(
        "{kills} kills in {:?}: {} acknowledged appends survived, {stored} messages stored",
        began.elapsed(),
        acked.len()
    );
    assert!(kills >= MIN_KILLS);
    assert!(
        acked.len() >= MIN_KILLS,
        "too little progress to mean anything: {} acknowledged appends",
        acked.len()
    );
    drop(rt);
    std::fs::remove_dir_all(&dir).unwrap();
}
