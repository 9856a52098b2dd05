//! Provisioning through the `mailcore-server` CLI into an embedded data dir.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mailcore-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailcore-server"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn provisions_domains_accounts_aliases_and_groups() {
    let dir = data_dir("provision");
    ok(&dir, &["domain", "add", "example.com"]);
    ok(&dir, &["domain", "add", "例子.测试"]);
    ok(
        &dir,
        &[
            "account",
            "add",
            "tom@example.com",
            "--password",
            "s3cret",
            "--name",
            "Tom",
        ],
    );
    ok(
        &dir,
        &["account", "add", "用户@例子.测试", "--password", "pw"],
    );
    ok(
        &dir,
        &["alias", "add", "thomas@example.com", "tom@example.com"],
    );
    ok(
        &dir,
        &[
            "group",
            "add",
            "team@example.com",
            "--member",
            "tom@example.com",
            "--member",
            "ext@other.org",
        ],
    );
    let list = ok(&dir, &["account", "list"]);
    assert!(list.contains("tom@example.com\tTom\tenabled"), "{list}");
    assert!(list.contains("thomas@example.com"), "{list}");
    assert!(list.contains("用户@例子.测试"), "{list}");
    let domains = ok(&dir, &["domain", "list"]);
    assert!(
        domains.contains("example.com") && domains.contains("例子.测试"),
        "{domains}"
    );
    // The global flag is accepted after the subcommand too.
    let out = Command::new(env!("CARGO_BIN_EXE_mailcore-server"))
        .args(["account", "list", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), list);
    let report = ok(&dir, &["store", "check"]);
    assert!(report.contains("\"problems\": []"), "{report}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn refuses_what_the_directory_forbids() {
    let dir = data_dir("refuse");
    ok(&dir, &["domain", "add", "example.com"]);
    ok(
        &dir,
        &["account", "add", "tom@example.com", "--password", "pw"],
    );
    for (args, why) in [
        (
            vec!["account", "add", "tom@example.com", "--password", "pw"],
            "already exists",
        ),
        (
            vec!["account", "add", "TOM@Example.com", "--password", "pw"],
            "already exists",
        ),
        (
            vec!["account", "add", "x@nowhere.org", "--password", "pw"],
            "domain",
        ),
        (
            vec!["account", "add", "not-an-address", "--password", "pw"],
            "invalid address",
        ),
        (
            vec!["alias", "add", "tom@example.com", "tom@example.com"],
            "already exists",
        ),
        (
            vec!["alias", "add", "t@example.com", "nobody@example.com"],
            "not found",
        ),
        (vec!["domain", "add", "bad_domain.com"], "invalid domain"),
        (vec!["domain", "add", "example.com"], "already exists"),
    ] {
        let out = run(&dir, &args);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn passwords_are_stored_as_argon2id_hashes() {
    let dir = data_dir("argon");
    ok(&dir, &["domain", "add", "example.com"]);
    ok(
        &dir,
        &[
            "account",
            "add",
            "tom@example.com",
            "--password",
            "plain-text-secret",
        ],
    );
    let mut found_hash = false;
    for entry in walk(&dir) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(17).any(|w| w == b"plain-text-secret"),
            "password stored in clear in {}",
            entry.display()
        );
        found_hash |= bytes.windows(10).any(|w| w == b"$argon2id$");
    }
    assert!(found_hash, "no argon2id hash found in the data dir");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn store_check_reports_damage_and_repair_fixes_it() {
    let dir = data_dir("check");
    ok(&dir, &["domain", "add", "example.com"]);
    ok(
        &dir,
        &["account", "add", "tom@example.com", "--password", "pw"],
    );
    // Store a message through the library, then damage its bytes behind the store's back.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = mailcore_store::open(dir.to_str().unwrap()).await.unwrap();
        let tom = store
            .account_by_address(&"tom@example.com".parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        let inbox = store.mailbox(tom.id, "INBOX").await.unwrap().unwrap();
        let raw = bytes::Bytes::from_static(b"Subject: fragile\r\n\r\nbody\r\n");
        let message = mailcore_store::mailbox::NewMessage {
            raw,
            flags: Default::default(),
            internal_date: 0,
        };
        store.append(inbox.id, message).await.unwrap();
    });
    let db = dir.join("mailcore.db");
    let damaged = Command::new("python3")
        .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE blobs SET data = x'00'\"); c.commit()"])
        .arg(&db)
        .status()
        .unwrap();
    assert!(damaged.success());
    let out = run(&dir, &["store", "check"]);
    assert!(!out.status.success(), "damage must give a non-zero exit");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("damaged-blob"), "{report}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("store is damaged"));
    let repaired = ok(&dir, &["store", "check", "--repair"]);
    assert!(repaired.contains("\"repaired\": true"), "{repaired}");
    let clean = ok(&dir, &["store", "check"]);
    assert!(clean.contains("\"problems\": []"), "{clean}");
    std::fs::remove_dir_all(&dir).unwrap();
}
