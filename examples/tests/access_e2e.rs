//! The administration rules as mail clients see them: SMTP (MX and submission), IMAP and POP3
//! servers on loopback ports over one embedded store, driven by Python's smtplib, imaplib and
//! poplib (STARTTLS against the development certificate), while the test changes the
//! directory through `mailcore_store::admin::Admin` between steps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mailcore::hook::HookChain;
use mailcore_smtp::delivery::{DeliveryConfig, LocalDelivery};
use mailcore_smtp::session::{Mode, SessionConfig};
use mailcore_store::Backend;
use mailcore_store::admin::access::IpRestriction;
use mailcore_store::admin::{
    Admin, AdminConfig, Caller, GroupSpec, MemberPatch, NewMember, SettingsPatch,
};
use mailcore_store::directory::OrgId;
use mailcore_store::log::{LogKind, LogQuery};
use mailcore_store::mailbox::AccountId;
use serde_json::Value;

const PW: &str = "main password 1";
const HOST: &str = "localhost";

struct Servers {
    smtp: u16,
    submission: u16,
    imap: u16,
    pop3: u16,
    cafile: PathBuf,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn listener() -> (tokio::net::TcpListener, u16) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

async fn start(store: Arc<dyn Backend>, dir: &Path) -> Servers {
    let (cert, key) = mailcore_examples::tls::ensure_dev_certificate(dir).unwrap();
    let tls = mailcore_examples::tls::acceptor(&cert, &key).unwrap();
    let hooks = HookChain::new();
    let handler: Arc<dyn mailcore_smtp::server::Handler> = Arc::new(LocalDelivery::new(
        store.clone(),
        hooks.clone(),
        DeliveryConfig::new("mx.example.com"),
    ));
    let mut tasks = Vec::new();
    let mut smtp_ports = Vec::new();
    for mode in [Mode::Mx, Mode::Submission] {
        let (l, port) = listener().await;
        let config = mailcore_smtp::server::ListenerConfig::new(
            SessionConfig::new("mx.example.com", mode),
            Some(tls.clone()),
            false,
        );
        let fut = mailcore_smtp::server::serve(l, config, handler.clone());
        tasks.push(tokio::spawn(async move {
            let _ = fut.await;
        }));
        smtp_ports.push(port);
    }
    let (l, imap) = listener().await;
    let config = mailcore_imap::server::ListenerConfig::new(
        false,
        Some(tls.clone()),
        mailcore_imap::session::Limits::default(),
    );
    let fut = mailcore_imap::server::serve(l, config, store.clone(), hooks.clone());
    tasks.push(tokio::spawn(async move {
        let _ = fut.await;
    }));
    let (l, pop3) = listener().await;
    let config = mailcore_pop3::server::ListenerConfig::new(
        mailcore_pop3::session::SessionConfig::new("mx.example.com"),
        Some(tls.clone()),
        false,
    );
    let fut = mailcore_pop3::server::serve(l, config, store.clone(), hooks);
    tasks.push(tokio::spawn(async move {
        let _ = fut.await;
    }));
    Servers {
        smtp: smtp_ports[0],
        submission: smtp_ports[1],
        imap,
        pop3,
        cafile: cert,
        tasks,
    }
}

fn python() -> Option<&'static str> {
    let ok = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some("python3")
    } else if std::env::var_os("MAILCORE_REQUIRE_PEERS").is_some() {
        panic!("python3 is required (MAILCORE_REQUIRE_PEERS is set)");
    } else {
        println!("SKIPPED: python3 not found");
        None
    }
}

impl Servers {
    /// Runs one client action and returns its JSON answer.
    async fn client(&self, action: &str, args: &[&str]) -> Value {
        let port = match action {
            "imap_login" | "imap_subjects" | "imap_subjects_as" => self.imap,
            "pop_login" | "pop_plain_as" => self.pop3,
            "smtp_auth" | "smtp_send_as" => self.submission,
            "smtp_send" if args.len() > 3 => self.submission,
            _ => self.smtp,
        };
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/access/client.py");
        let mut cmd = std::process::Command::new("python3");
        cmd.arg(script)
            .arg(action)
            .arg(HOST)
            .arg(port.to_string())
            .arg(&self.cafile)
            .args(args);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{action} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    }

    async fn ok(&self, action: &str, args: &[&str]) -> bool {
        let v = self.client(action, args).await;
        v["ok"].as_bool().unwrap()
    }

    /// Whether the INBOX of `user` (main password) holds a message with `subject`.
    async fn has(&self, user: &str, subject: &str) -> bool {
        self.subjects(user, PW).await.iter().any(|s| s == subject)
    }

    async fn subjects(&self, user: &str, password: &str) -> Vec<String> {
        let v = self.client("imap_subjects", &[user, password]).await;
        assert_eq!(v["ok"], true, "{v}");
        v["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    }
}

struct World {
    admin: Admin,
    op: Caller,
    org: OrgId,
    servers: Servers,
    dir: PathBuf,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn world(name: &str) -> Option<World> {
    python()?;
    let dir = std::env::temp_dir().join(format!("mailcore-access-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = mailcore_store::open(dir.join("store").to_str().unwrap())
        .await
        .unwrap();
    let admin = Admin::new(store.clone(), AdminConfig::default());
    let op = Caller::operator();
    let org = OrgId(
        admin
            .create_org(&op, "Acme", "professional", "boss", PW)
            .await
            .unwrap()
            .id,
    );
    admin.add_domain(&op, org, "example.com").await.unwrap();
    admin
        .mark_domain_verified(&op, "example.com", true)
        .await
        .unwrap();
    let servers = start(store, &dir).await;
    Some(World {
        admin,
        op,
        org,
        servers,
        dir,
    })
}

impl World {
    async fn member(&self, local: &str, departments: Vec<i64>) -> AccountId {
        AccountId(
            self.admin
                .create_member(
                    &self.op,
                    self.org,
                    NewMember {
                        local_part: local.into(),
                        domain: Some("example.com".into()),
                        password: Some(PW.into()),
                        departments,
                        ..NewMember::default()
                    },
                )
                .await
                .unwrap()
                .member
                .id,
        )
    }

    async fn login_log(&self, user: &str) -> Vec<Value> {
        let (_, records) = self
            .admin
            .query_logs(
                &self.op,
                self.org,
                LogQuery::all(LogKind::Login, 100).contains(user),
            )
            .await
            .unwrap();
        records.into_iter().map(|r| r.data).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_member_refuses_mail_and_login_then_recycle_bin_restores_mail() {
    let Some(w) = world("disabled").await else {
        return;
    };
    let s = &w.servers;
    let tom = w.member("tom", vec![]).await;
    let r = s
        .client(
            "smtp_send",
            &["ext@other.test", "tom@example.com", "before"],
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    assert!(s.ok("imap_login", &["tom@example.com", PW]).await);
    // Disabled: inbound mail is refused permanently at RCPT, logins fail everywhere.
    w.admin
        .update_member(
            &w.op,
            tom,
            MemberPatch {
                enabled: Some(false),
                ..MemberPatch::default()
            },
        )
        .await
        .unwrap();
    let r = s
        .client(
            "smtp_send",
            &["ext@other.test", "tom@example.com", "while disabled"],
        )
        .await;
    assert_eq!(r["ok"], false, "{r}");
    let refused = &r["refused"]["tom@example.com"];
    assert_eq!(refused[0], 550, "{r}");
    assert!(refused[1].as_str().unwrap().starts_with("5.2.1"), "{r}");
    assert!(!s.ok("imap_login", &["tom@example.com", PW]).await);
    assert!(!s.ok("pop_login", &["tom@example.com", PW]).await);
    assert!(!s.ok("smtp_auth", &["tom@example.com", PW]).await);
    let log = w.login_log("tom@example.com").await;
    assert!(
        log.iter()
            .any(|r| r["protocol"] == "pop3" && r["reason"] == "account disabled"),
        "{log:?}"
    );
    // Enabled again, then deleted: in the recycle bin the mail is kept but unreachable.
    w.admin
        .update_member(
            &w.op,
            tom,
            MemberPatch {
                enabled: Some(true),
                ..MemberPatch::default()
            },
        )
        .await
        .unwrap();
    w.admin.delete_member(&w.op, tom).await.unwrap();
    assert!(!s.ok("imap_login", &["tom@example.com", PW]).await);
    let r = s
        .client(
            "smtp_send",
            &["ext@other.test", "tom@example.com", "while deleted"],
        )
        .await;
    assert_eq!(r["refused"]["tom@example.com"][0], 550, "{r}");
    // Restored: login works and the old mail is there (plus the welcome letter).
    w.admin.restore(&w.op, tom).await.unwrap();
    let subjects = s.subjects("tom@example.com", PW).await;
    assert!(subjects.contains(&"before".to_owned()), "{subjects:?}");
    assert!(
        !subjects.iter().any(|s| s.contains("while")),
        "{subjects:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_password_under_secure_login_and_protocol_switches() {
    let Some(w) = world("secure").await else {
        return;
    };
    let s = &w.servers;
    let ann = w.member("ann", vec![]).await;
    let app = w
        .admin
        .create_app_password(&w.op, ann, "thunderbird")
        .await
        .unwrap()
        .password;
    assert!(s.ok("imap_login", &["ann@example.com", PW]).await);
    w.admin
        .update_settings(
            &w.op,
            w.org,
            SettingsPatch {
                secure_login: Some(true),
                ..SettingsPatch::default()
            },
        )
        .await
        .unwrap();
    for action in ["imap_login", "pop_login", "smtp_auth"] {
        assert!(
            !s.ok(action, &["ann@example.com", PW]).await,
            "{action}: main password refused under secure login"
        );
        assert!(
            s.ok(action, &["ann@example.com", &app]).await,
            "{action}: app password accepted"
        );
    }
    let log = w.login_log("ann@example.com").await;
    assert!(
        log.iter()
            .any(|r| r["reason"] == "secure login requires an app password"),
        "{log:?}"
    );
    // Switch POP3 off for the member's department.
    let dept = w
        .admin
        .create_department(&w.op, w.org, "Field", None)
        .await
        .unwrap();
    w.admin
        .update_member(
            &w.op,
            ann,
            MemberPatch {
                departments: Some(vec![dept.id]),
                ..MemberPatch::default()
            },
        )
        .await
        .unwrap();
    w.admin
        .update_department(
            &w.op,
            w.org,
            dept.id,
            None,
            None,
            Some(Some(mailcore_store::admin::ProtocolSwitches {
                imap: true,
                pop3: false,
                smtp: true,
            })),
        )
        .await
        .unwrap();
    assert!(!s.ok("pop_login", &["ann@example.com", &app]).await);
    assert!(s.ok("imap_login", &["ann@example.com", &app]).await);
    // Revoked: the app password stops working.
    let id = w.admin.list_app_passwords(&w.op, ann).await.unwrap()[0]
        .id
        .clone();
    w.admin.revoke_app_password(&w.op, ann, &id).await.unwrap();
    assert!(!s.ok("imap_login", &["ann@example.com", &app]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_restriction_refuses_and_logs_unlisted_addresses() {
    let Some(w) = world("ip").await else {
        return;
    };
    let s = &w.servers;
    let bob = w.member("bob", vec![]).await;
    let _ = bob;
    let eve = w.member("eve", vec![]).await;
    w.admin
        .update_settings(
            &w.op,
            w.org,
            SettingsPatch {
                ip_restriction: Some(IpRestriction {
                    allowed: vec!["192.0.2.0/24".into()],
                    exempt: vec![eve.0],
                }),
                ..SettingsPatch::default()
            },
        )
        .await
        .unwrap();
    assert!(!s.ok("imap_login", &["bob@example.com", PW]).await);
    assert!(!s.ok("smtp_auth", &["bob@example.com", PW]).await);
    assert!(s.ok("imap_login", &["eve@example.com", PW]).await, "exempt");
    let log = w.login_log("bob@example.com").await;
    let refused: Vec<&Value> = log
        .iter()
        .filter(|r| r["reason"] == "IP address not allowed")
        .collect();
    // smtplib tries AUTH PLAIN, then LOGIN: every attempt is logged.
    assert!(refused.iter().any(|r| r["protocol"] == "imap"), "{log:?}");
    assert!(
        refused.iter().any(|r| r["protocol"] == "submission"),
        "{log:?}"
    );
    assert!(
        refused
            .iter()
            .all(|r| r["ip"] == "127.0.0.1" && r["result"] == "failure")
    );
    // Listing loopback lets bob in.
    w.admin
        .update_settings(
            &w.op,
            w.org,
            SettingsPatch {
                ip_restriction: Some(IpRestriction {
                    allowed: vec!["192.0.2.0/24".into(), "127.0.0.0/8".into()],
                    exempt: vec![],
                }),
                ..SettingsPatch::default()
            },
        )
        .await
        .unwrap();
    assert!(s.ok("imap_login", &["bob@example.com", PW]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliases_and_groups_over_smtp() {
    let Some(w) = world("groups").await else {
        return;
    };
    let s = &w.servers;
    let sales = w
        .admin
        .create_department(&w.op, w.org, "Sales", None)
        .await
        .unwrap();
    let east = w
        .admin
        .create_department(&w.op, w.org, "East", Some(sales.id))
        .await
        .unwrap();
    let tom = w.member("tom", vec![]).await;
    let _ann = w.member("ann", vec![east.id]).await;
    let _cat = w.member("cat", vec![]).await;
    // Five aliases, all deliverable and usable as sender; the sixth is refused.
    for i in 1..=5 {
        w.admin
            .add_alias(&w.op, tom, &format!("tom{i}@example.com"))
            .await
            .unwrap();
    }
    let err = w
        .admin
        .add_alias(&w.op, tom, "tom6@example.com")
        .await
        .unwrap_err();
    assert_eq!(err.code, mailcore_store::admin::ErrorCode::LimitExceeded);
    let r = s
        .client(
            "smtp_send",
            &["ext@other.test", "tom5@example.com", "to alias"],
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    let r = s
        .client(
            "smtp_send",
            &["ext@other.test", "tom6@example.com", "no alias"],
        )
        .await;
    assert_eq!(r["refused"]["tom6@example.com"][0], 550, "{r}");
    let r = s
        .client(
            "smtp_send",
            &[
                "tom3@example.com",
                "cat@example.com",
                "from alias",
                "tom@example.com",
                PW,
            ],
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    assert!(s.has("cat@example.com", "from alias").await);
    assert!(s.has("tom@example.com", "to alias").await);
    // A group of a member, a department (with its sub-department) and an external address;
    // tom represents it.
    w.admin
        .create_group(
            &w.op,
            GroupSpec {
                address: "team@example.com".into(),
                name: Some("Team".into()),
                members: vec!["cat@example.com".into(), "partner@other.test".into()],
                departments: vec![sales.id],
                representatives: vec!["tom@example.com".into()],
            },
        )
        .await
        .unwrap();
    let r = s
        .client(
            "smtp_send",
            &[
                "team@example.com",
                "team@example.com",
                "as the group",
                "tom@example.com",
                PW,
            ],
        )
        .await;
    assert_eq!(r["ok"], true, "representative sends as the group: {r}");
    for user in ["cat@example.com", "ann@example.com"] {
        assert!(
            s.has(user, "as the group").await,
            "{user} got the group's mail"
        );
    }
    // The external member's copy waits in the outbound queue.
    let queue = w.admin.store().list_queue().await.unwrap();
    assert!(
        queue.iter().any(|e| e
            .recipients
            .iter()
            .any(|r| r.address.to_string() == "partner@other.test")),
        "{queue:?}"
    );
    // A non-representative may not.
    let r = s
        .client(
            "smtp_send",
            &[
                "team@example.com",
                "cat@example.com",
                "not mine",
                "cat@example.com",
                PW,
            ],
        )
        .await;
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["code"], 553, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn business_mailbox_opened_by_its_users_with_their_own_login() {
    let Some(w) = world("shared").await else {
        return;
    };
    let s = &w.servers;
    let ann = w.member("ann", vec![]).await;
    let _bob = w.member("bob", vec![]).await;
    let (desk, desk_password) = w
        .admin
        .create_shared_mailbox(
            &w.op,
            w.org,
            mailcore_store::admin::NewSharedMailbox {
                local_part: "desk".into(),
                domain: Some("example.com".into()),
                display_name: Some("Front desk".into()),
                users: vec![ann.0],
            },
        )
        .await
        .unwrap();
    let r = s
        .client(
            "smtp_send",
            &["ext@other.test", "desk@example.com", "for the desk"],
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    // With its own client password.
    assert_eq!(
        s.subjects("desk@example.com", &desk_password.password)
            .await,
        vec!["for the desk"]
    );
    // A user, with their own password, as the SASL authorization identity (RFC 4616).
    let v = s
        .client(
            "imap_subjects_as",
            &["desk@example.com", "ann@example.com", PW],
        )
        .await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["subjects"], serde_json::json!(["for the desk"]), "{v}");
    let v = s
        .client("pop_plain_as", &["desk@example.com", "ann@example.com", PW])
        .await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["count"], 1, "{v}");
    let v = s
        .client(
            "smtp_send_as",
            &[
                "desk@example.com",
                "desk@example.com",
                "bob@example.com",
                "from the desk",
                "ann@example.com",
                PW,
            ],
        )
        .await;
    assert_eq!(v["ok"], true, "a user sends as the mailbox: {v}");
    assert!(s.has("bob@example.com", "from the desk").await);
    // Someone who is not a user cannot, on any protocol; the attempt is logged.
    for (action, args) in [
        (
            "imap_subjects_as",
            vec!["desk@example.com", "bob@example.com", PW],
        ),
        (
            "pop_plain_as",
            vec!["desk@example.com", "bob@example.com", PW],
        ),
    ] {
        let v = s.client(action, &args).await;
        assert_eq!(v["ok"], false, "{action}: {v}");
    }
    let v = s
        .client(
            "smtp_send_as",
            &[
                "desk@example.com",
                "desk@example.com",
                "ann@example.com",
                "not mine",
                "bob@example.com",
                PW,
            ],
        )
        .await;
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["code"], 535, "{v}");
    let log = w.login_log("bob@example.com").await;
    assert!(
        log.iter()
            .any(|r| r["reason"] == "not a user of the requested mailbox"
                && r["authzid"] == "desk@example.com"),
        "{log:?}"
    );
    // Removing ann from its users closes it to her.
    w.admin
        .set_shared_users(&w.op, AccountId(desk.mailbox.id), vec![])
        .await
        .unwrap();
    let v = s
        .client(
            "imap_subjects_as",
            &["desk@example.com", "ann@example.com", PW],
        )
        .await;
    assert_eq!(v["ok"], false, "{v}");
}
