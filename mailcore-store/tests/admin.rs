#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The administration API (`mailcore_store::admin`) against the embedded backend and, when
//! `MAILCORE_TEST_PG` is set, PostgreSQL: every rule of SPEC §1–3 the library enforces.

use std::net::IpAddr;
use std::sync::Arc;

use mailcore::hook::Protocol;
use mailcore_store::Backend;
use mailcore_store::admin::access::{IpRestriction, ProtocolSwitches};
use mailcore_store::admin::{
    Admin, AdminConfig, Caller, ErrorCode, GroupSpec, MemberPatch, NewMember, NewSharedMailbox,
    Right, Role, SettingsPatch, WelcomeLetter,
};
use mailcore_store::auth::{LoginFailure, LoginRequest, login};
use mailcore_store::directory::{OrgId, Resolved};
use mailcore_store::log::{LogKind, LogQuery};
use mailcore_store::mailbox::{AccountId, INBOX};
use mailcore_store::postgres::Postgres;

const PW: &str = "correct horse battery";

fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}_{:x}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

/// Runs `case` on an embedded store and, with `MAILCORE_TEST_PG`, on a fresh PostgreSQL schema.
async fn both<F, Fut>(case: F)
where
    F: Fn(Arc<dyn Backend>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = std::env::temp_dir().join(format!("mailcore-admin-{}", unique()));
    let store = mailcore_store::open(dir.to_str().unwrap()).await.unwrap();
    case(store).await;
    std::fs::remove_dir_all(&dir).ok();
    match std::env::var("MAILCORE_TEST_PG") {
        Ok(url) if !url.is_empty() => {
            let schema = format!("admin_{}", unique());
            let pg = Arc::new(Postgres::connect_schema(&url, &schema).await.unwrap());
            case(pg.clone()).await;
            pg.drop_schema().await.unwrap();
        }
        _ => println!("PostgreSQL skipped: set MAILCORE_TEST_PG"),
    }
}

struct Fx {
    admin: Admin,
    op: Caller,
    org: OrgId,
    creator: AccountId,
}

/// An organisation "Acme" with a verified domain example.com (the trial domain retired).
async fn fixture(store: Arc<dyn Backend>, edition: &str) -> Fx {
    let fx = fixture_unverified(store, edition).await;
    fx.admin
        .mark_domain_verified(&fx.op, "example.com", true)
        .await
        .unwrap();
    fx
}

/// An organisation "Acme" on its trial domain, with example.com added but not verified.
async fn fixture_unverified(store: Arc<dyn Backend>, edition: &str) -> Fx {
    let admin = Admin::new(store, AdminConfig::default());
    let op = Caller::operator();
    let info = admin
        .create_org(&op, "Acme", edition, "boss", PW)
        .await
        .unwrap();
    let org = OrgId(info.id);
    admin.add_domain(&op, org, "example.com").await.unwrap();
    let creator = admin
        .store()
        .account_by_address(&info.creator.unwrap().parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    Fx {
        admin,
        op,
        org,
        creator,
    }
}

fn member(local: &str) -> NewMember {
    NewMember {
        local_part: local.into(),
        domain: Some("example.com".into()),
        password: Some(PW.into()),
        ..NewMember::default()
    }
}

async fn try_login(
    store: &dyn Backend,
    user: &str,
    password: &str,
    protocol: Protocol,
    ip: &str,
) -> Result<(), LoginFailure> {
    let ip: IpAddr = ip.parse().unwrap();
    login(
        store,
        &LoginRequest::new(user, password, protocol, Some(ip)),
    )
    .await
    .unwrap()
    .map(|_| ())
}

fn code<T: std::fmt::Debug>(r: Result<T, mailcore_store::admin::AdminError>) -> ErrorCode {
    r.expect_err("expected an error").code
}

#[tokio::test]
async fn org_trial_domain_creator_and_edition_limits() {
    both(|store| async move {
        let fx = fixture_unverified(store, "basic").await;
        let info = fx.admin.org_info(&fx.op, fx.org).await.unwrap();
        assert_eq!(info.edition, "basic");
        assert_eq!(info.limits.max_domains, 1);
        assert_eq!(info.limits.log_retention_days, 92);
        assert_eq!(
            info.creator.as_deref(),
            Some("boss@acme.trial.mailcore.test")
        );
        assert_eq!(info.members, 1, "the creator's mailbox is created");
        let domains = fx.admin.list_domains(&fx.op, fx.org).await.unwrap();
        assert!(domains.iter().any(|d| d.trial && d.verified));
        // Basic: one real domain.
        assert_eq!(
            code(fx.admin.add_domain(&fx.op, fx.org, "second.example").await),
            ErrorCode::LimitExceeded
        );
        // Basic: IP restriction is a professional feature.
        let patch = SettingsPatch {
            ip_restriction: Some(IpRestriction {
                allowed: vec!["10.0.0.0/8".into()],
                exempt: vec![],
            }),
            ..SettingsPatch::default()
        };
        assert_eq!(
            code(
                fx.admin
                    .update_settings(&fx.op, fx.org, patch.clone())
                    .await
            ),
            ErrorCode::EditionRequired
        );
        // Upgrading lifts both.
        fx.admin
            .set_edition(&fx.op, fx.org, "professional")
            .await
            .unwrap();
        fx.admin
            .add_domain(&fx.op, fx.org, "second.example")
            .await
            .unwrap();
        fx.admin
            .update_settings(&fx.op, fx.org, patch)
            .await
            .unwrap();
        // Downgrading while two real domains exist is refused.
        assert_eq!(
            code(fx.admin.set_edition(&fx.op, fx.org, "basic").await),
            ErrorCode::LimitExceeded
        );
        // Verifying a real domain retires the trial domain: the creator moves to it and keeps
        // the trial address as an alias.
        fx.admin
            .mark_domain_verified(&fx.op, "example.com", true)
            .await
            .unwrap();
        let boss = fx.admin.member(&fx.op, fx.creator).await.unwrap();
        assert_eq!(boss.address, "boss@example.com");
        assert_eq!(boss.aliases, vec!["boss@acme.trial.mailcore.test"]);
        let info = fx.admin.org_info(&fx.op, fx.org).await.unwrap();
        assert_eq!(info.creator.as_deref(), Some("boss@example.com"));
        // The retired trial domain does not count against the domain limit: with one real
        // domain left the organisation fits the basic edition again.
        fx.admin
            .remove_domain(&fx.op, "second.example")
            .await
            .unwrap();
        fx.admin.set_edition(&fx.op, fx.org, "basic").await.unwrap();
        fx.admin
            .set_edition(&fx.op, fx.org, "professional")
            .await
            .unwrap();
        assert!(
            !fx.admin
                .list_domains(&fx.op, fx.org)
                .await
                .unwrap()
                .iter()
                .any(|d| d.trial)
        );
        // Names and trial domains are unique; a refused organisation leaves nothing behind.
        let before = fx.admin.list_orgs(&fx.op).await.unwrap().len();
        assert_eq!(
            code(fx.admin.create_org(&fx.op, "Acme", "basic", "x", PW).await),
            ErrorCode::AlreadyExists
        );
        assert_eq!(
            code(fx.admin.create_org(&fx.op, "ACME!", "basic", "x", PW).await),
            ErrorCode::AlreadyExists,
            "same trial domain acme.<suffix>"
        );
        assert_eq!(
            code(fx.admin.create_org(&fx.op, "Other", "gold", "x", PW).await),
            ErrorCode::Invalid
        );
        assert_eq!(fx.admin.list_orgs(&fx.op).await.unwrap().len(), before);
        // Only the operator creates organisations.
        let creator = fx
            .admin
            .authenticate_token(&fx.admin.create_token(Some(fx.creator), "t").await.unwrap())
            .await
            .unwrap();
        assert_eq!(
            code(
                fx.admin
                    .create_org(&creator, "Other", "basic", "x", PW)
                    .await
            ),
            ErrorCode::Forbidden
        );
        // Every change is in the operation log.
        let (_, ops) = fx
            .admin
            .query_logs(&fx.op, fx.org, LogQuery::all(LogKind::Operation, 100))
            .await
            .unwrap();
        let actions: Vec<&str> = ops
            .iter()
            .filter_map(|r| r.data["action"].as_str())
            .collect();
        for a in ["org.create", "domain.add", "org.edition", "domain.verify"] {
            assert!(actions.contains(&a), "{a} missing from {actions:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn members_departments_vip_quota_rename_and_aliases() {
    both(|store| async move {
        let fx = fixture(store, "professional").await;
        let (a, op, org) = (&fx.admin, &fx.op, fx.org);
        let sales = a.create_department(op, org, "Sales", None).await.unwrap();
        let east = a
            .create_department(op, org, "East", Some(sales.id))
            .await
            .unwrap();
        assert_eq!(
            code(a.create_department(op, org, "sales", None).await),
            ErrorCode::AlreadyExists
        );
        // A department cannot move below itself.
        assert_eq!(
            code(
                a.update_department(op, org, sales.id, None, Some(Some(east.id)), None)
                    .await
            ),
            ErrorCode::Invalid
        );
        // The depth limit holds for creating and for moving a subtree: levels 0 to 31.
        let max = mailcore_store::admin::MAX_DEPARTMENT_DEPTH;
        let mut chain = vec![a.create_department(op, org, "L0", None).await.unwrap()];
        for i in 1..max {
            let parent = chain[i - 1].id;
            chain.push(
                a.create_department(op, org, &format!("L{i}"), Some(parent))
                    .await
                    .unwrap(),
            );
        }
        let last = chain[max - 1].id;
        assert_eq!(
            code(a.create_department(op, org, "too deep", Some(last)).await),
            ErrorCode::LimitExceeded
        );
        let top = a.create_department(op, org, "Top", None).await.unwrap();
        a.create_department(op, org, "Child", Some(top.id))
            .await
            .unwrap();
        for level in [max - 1, max - 2] {
            assert_eq!(
                code(
                    a.update_department(op, org, top.id, None, Some(Some(chain[level].id)), None)
                        .await
                ),
                ErrorCode::LimitExceeded,
                "under level {level} the child would be too deep"
            );
        }
        a.update_department(op, org, top.id, None, Some(Some(chain[max - 3].id)), None)
            .await
            .unwrap();
        let tom = a
            .create_member(
                op,
                org,
                NewMember {
                    display_name: Some("Tom".into()),
                    employee_id: Some("E1".into()),
                    phone: Some("+49 1".into()),
                    departments: vec![east.id],
                    ..member("tom")
                },
            )
            .await
            .unwrap()
            .member;
        assert_eq!(tom.quota_bytes, Some(1 << 30));
        assert_eq!(tom.departments, vec![east.id]);
        // Employee ids are unique in the organisation.
        assert_eq!(
            code(
                a.create_member(
                    op,
                    org,
                    NewMember {
                        employee_id: Some("E1".into()),
                        ..member("ann")
                    }
                )
                .await
            ),
            ErrorCode::AlreadyExists
        );
        // A normal member's quota is capped; VIP needs a seat and is unlimited.
        assert_eq!(
            code(
                a.create_member(
                    op,
                    org,
                    NewMember {
                        quota_bytes: Some(2 << 30),
                        ..member("big")
                    }
                )
                .await
            ),
            ErrorCode::LimitExceeded
        );
        let id = AccountId(tom.id);
        let vip = MemberPatch {
            vip: Some(true),
            ..MemberPatch::default()
        };
        assert_eq!(
            code(a.update_member(op, id, vip.clone()).await),
            ErrorCode::LimitExceeded
        );
        a.update_settings(
            op,
            org,
            SettingsPatch {
                vip_seats: Some(1),
                ..SettingsPatch::default()
            },
        )
        .await
        .unwrap();
        let t = a.update_member(op, id, vip).await.unwrap();
        assert!(t.vip);
        assert_eq!(t.quota_bytes, None);
        assert_eq!(
            a.org_info(op, org).await.unwrap().vip_seats_used,
            1,
            "the seat is taken"
        );
        // A department with members cannot be deleted.
        assert_eq!(
            code(a.delete_department(op, org, east.id).await),
            ErrorCode::Conflict
        );
        // Rename once.
        let t = a.rename_member(op, id, "thomas").await.unwrap();
        assert_eq!(t.address, "thomas@example.com");
        assert!(t.renamed);
        assert_eq!(
            code(a.rename_member(op, id, "tommy").await),
            ErrorCode::Conflict
        );
        // Five aliases, not six.
        for i in 1..=5 {
            a.add_alias(op, id, &format!("t{i}@example.com"))
                .await
                .unwrap();
        }
        assert_eq!(
            code(a.add_alias(op, id, "t6@example.com").await),
            ErrorCode::LimitExceeded
        );
        a.remove_alias(op, id, "t1@example.com").await.unwrap();
        a.add_alias(op, id, "t6@example.com").await.unwrap();
        assert!(matches!(
            a.store().resolve(&"t6@example.com".parse().unwrap()).await.unwrap(),
            Resolved::Alias(acc) if acc.id == id
        ));
        // Disable: no login; enable: login again.
        assert_eq!(
            try_login(
                a.store().as_ref(),
                "thomas@example.com",
                PW,
                Protocol::Imap,
                "127.0.0.1"
            )
            .await,
            Ok(())
        );
        a.update_member(
            op,
            id,
            MemberPatch {
                enabled: Some(false),
                ..MemberPatch::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            try_login(
                a.store().as_ref(),
                "thomas@example.com",
                PW,
                Protocol::Imap,
                "127.0.0.1"
            )
            .await,
            Err(LoginFailure::Disabled)
        );
        // The creator cannot be disabled.
        assert_eq!(
            code(
                a.update_member(
                    op,
                    fx.creator,
                    MemberPatch {
                        enabled: Some(false),
                        ..MemberPatch::default()
                    }
                )
                .await
            ),
            ErrorCode::Conflict
        );
    })
    .await;
}

#[tokio::test]
async fn csv_import_is_all_or_nothing_with_row_errors() {
    both(|store| async move {
        let fx = fixture(store, "professional").await;
        let (a, op, org) = (&fx.admin, &fx.op, fx.org);
        a.create_department(op, org, "Sales", None).await.unwrap();
        let bad = "local_part,domain,display_name,password,department,vip\n\
                   ann,example.com,Ann,pw1,Sales,no\n\
                   bob,nowhere.example,Bob,pw2,,no\n\
                   ann,example.com,Ann again,pw3,,no\n\
                   cat,example.com,Cat,pw4,Marketing,no\n\
                   dan,example.com,Dan,pw5,,maybe\n";
        let report = a.import_members_csv(op, org, bad).await.unwrap();
        assert!(!report.imported);
        assert!(report.created.is_empty());
        let rows: Vec<usize> = report.errors.iter().map(|e| e.row).collect();
        assert_eq!(rows, vec![3, 4, 5, 6], "{:?}", report.errors);
        assert!(
            report.errors[2].error.contains("Marketing"),
            "{:?}",
            report.errors
        );
        assert!(
            matches!(
                a.store()
                    .resolve(&"ann@example.com".parse().unwrap())
                    .await
                    .unwrap(),
                Resolved::Unknown
            ),
            "nothing created from a bad file"
        );
        let good = "local_part,display_name,password,department\n\
                    ann,Ann,pw1,Sales\n\
                    \"bob\",\"Bob, Jr.\",pw2,\n";
        let report = a.import_members_csv(op, org, good).await.unwrap();
        assert!(report.imported, "{:?}", report.errors);
        assert_eq!(report.created, vec!["ann@example.com", "bob@example.com"]);
        let members = a.list_members(op, org).await.unwrap();
        let bob = members
            .iter()
            .find(|m| m.address == "bob@example.com")
            .unwrap();
        assert_eq!(bob.display_name.as_deref(), Some("Bob, Jr."));
        assert_eq!(
            try_login(
                a.store().as_ref(),
                "ann@example.com",
                "pw1",
                Protocol::Pop3,
                "127.0.0.1"
            )
            .await,
            Ok(())
        );
        // VIP seats, the member limit and employee ids hold over the whole file.
        a.update_settings(
            op,
            org,
            SettingsPatch {
                vip_seats: Some(1),
                ..SettingsPatch::default()
            },
        )
        .await
        .unwrap();
        let vips = "local_part,vip,employee_id\nv1,yes,E7\nv2,yes,E8\nv3,no,E7\n";
        let report = a.import_members_csv(op, org, vips).await.unwrap();
        assert!(!report.imported);
        assert_eq!(
            report.errors.iter().map(|e| e.row).collect::<Vec<_>>(),
            vec![3, 4],
            "{:?}",
            report.errors
        );
        assert!(
            report.errors[0].error.contains("VIP"),
            "{:?}",
            report.errors
        );
        assert!(report.errors[1].error.contains("E7"), "{:?}", report.errors);
        // Unknown columns are refused outright.
        assert_eq!(
            code(
                a.import_members_csv(op, org, "local_part,shoe_size\nx,42\n")
                    .await
            ),
            ErrorCode::Invalid
        );
    })
    .await;
}

#[tokio::test]
async fn invitations_activation_and_welcome_letter() {
    both(|store| async move {
        let fx = fixture(store, "professional").await;
        let (a, op, org) = (&fx.admin, &fx.op, fx.org);
        let dept = a.create_department(op, org, "Ops", None).await.unwrap();
        // Without approval: joining creates the member in the invitation's department.
        let inv = a
            .create_invitation(op, org, Some("example.com"), Some(dept.id), Some(false))
            .await
            .unwrap();
        let token = inv.token.clone().unwrap();
        let joined = a
            .accept_invitation(&token, "eve", Some("Eve"), PW)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(joined.address, "eve@example.com");
        assert_eq!(joined.departments, vec![dept.id]);
        assert_eq!(
            code(a.accept_invitation("nonsense", "x", None, PW).await),
            ErrorCode::Unauthenticated
        );
        // With approval: a request waits for an administrator.
        let inv = a
            .create_invitation(op, org, None, None, Some(true))
            .await
            .unwrap();
        let pending = a
            .accept_invitation(inv.token.as_deref().unwrap(), "fay", None, PW)
            .await
            .unwrap();
        assert!(pending.is_none());
        let requests = a.list_join_requests(op, org).await.unwrap();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].address, "fay@example.com");
        let fay = a
            .decide_join_request(op, org, requests[0].id, true)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fay.address, "fay@example.com");
        assert!(a.list_join_requests(op, org).await.unwrap().is_empty());
        // First login delivers the welcome letter, once.
        let store = a.store().clone();
        assert_eq!(
            try_login(
                store.as_ref(),
                "fay@example.com",
                PW,
                Protocol::Imap,
                "127.0.0.1"
            )
            .await,
            Ok(())
        );
        try_login(
            store.as_ref(),
            "fay@example.com",
            PW,
            Protocol::Imap,
            "127.0.0.1",
        )
        .await
        .unwrap();
        let inbox = store
            .mailbox(AccountId(fay.id), INBOX)
            .await
            .unwrap()
            .unwrap();
        let msgs = store.messages(inbox.id, 1..=u32::MAX).await.unwrap();
        assert_eq!(msgs.len(), 1, "exactly one welcome letter");
        let raw = store
            .read_message(inbox.id, msgs[0].uid)
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("Subject: Welcome to Acme"), "{text}");
        assert!(text.contains("fay@example.com"), "{text}");
        // A member without a password activates with the token and gets the custom letter.
        a.update_settings(
            op,
            org,
            SettingsPatch {
                welcome: Some(WelcomeLetter {
                    enabled: true,
                    subject: Some("Hi {name} at {org}".into()),
                    body: Some("Your address: {address}\n".into()),
                }),
                ..SettingsPatch::default()
            },
        )
        .await
        .unwrap();
        let created = a
            .create_member(
                op,
                org,
                NewMember {
                    password: None,
                    display_name: Some("Gus".into()),
                    ..member("gus")
                },
            )
            .await
            .unwrap();
        assert!(!created.member.activated);
        assert_eq!(
            try_login(
                store.as_ref(),
                "gus@example.com",
                PW,
                Protocol::Imap,
                "127.0.0.1"
            )
            .await,
            Err(LoginFailure::BadPassword),
            "no password before activation"
        );
        let gus = a
            .activate(created.activation_token.as_deref().unwrap(), "new secret")
            .await
            .unwrap();
        assert!(gus.activated);
        assert_eq!(
            code(
                a.activate(created.activation_token.as_deref().unwrap(), "again")
                    .await
            ),
            ErrorCode::Unauthenticated,
            "tokens are single-use"
        );
        let inbox = store
            .mailbox(AccountId(gus.id), INBOX)
            .await
            .unwrap()
            .unwrap();
        let msgs = store.messages(inbox.id, 1..=u32::MAX).await.unwrap();
        let raw = store
            .read_message(inbox.id, msgs[0].uid)
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("Subject: Hi Gus at Acme"), "{text}");
        assert!(text.contains("Your address: gus@example.com\r\n"), "{text}");
        assert_eq!(
            try_login(
                store.as_ref(),
                "gus@example.com",
                "new secret",
                Protocol::Imap,
                "127.0.0.1"
            )
            .await,
            Ok(())
        );
    })
    .await;
}

#[tokio::test]
async fn groups_with_departments_and_shared_mailboxes() {
    both(|store| async move {
        let fx = fixture(store, "basic").await;
        let (a, op, org) = (&fx.admin, &fx.op, fx.org);
        let sales = a.create_department(op, org, "Sales", None).await.unwrap();
        let east = a
            .create_department(op, org, "East", Some(sales.id))
            .await
            .unwrap();
        let ann = a
            .create_member(
                op,
                org,
                NewMember {
                    departments: vec![east.id],
                    ..member("ann")
                },
            )
            .await
            .unwrap()
            .member;
        let group = a
            .create_group(
                op,
                GroupSpec {
                    address: "sales@example.com".into(),
                    name: Some("Sales".into()),
                    members: vec!["partner@other.example".into()],
                    departments: vec![sales.id],
                    representatives: vec![ann.address.clone()],
                },
            )
            .await
            .unwrap();
        assert_eq!(group.departments, vec![sales.id]);
        let g = a
            .store()
            .group(&"sales@example.com".parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        let expanded = mailcore_store::admin::group_department_members(a.store().as_ref(), &g)
            .await
            .unwrap();
        assert_eq!(
            expanded.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec!["ann@example.com"],
            "sub-department members are included"
        );
        assert_eq!(
            code(
                a.create_group(
                    op,
                    GroupSpec {
                        address: "x@example.com".into(),
                        representatives: vec!["nobody@example.com".into()],
                        ..GroupSpec::default()
                    }
                )
                .await
            ),
            ErrorCode::NotFound
        );
        // Business mailboxes: basic allows 3; each has its own client password.
        let mut passwords = Vec::new();
        for i in 0..3 {
            let (shared, pw) = a
                .create_shared_mailbox(
                    op,
                    org,
                    NewSharedMailbox {
                        local_part: format!("desk{i}"),
                        domain: Some("example.com".into()),
                        users: vec![ann.id],
                        ..NewSharedMailbox::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(shared.users, vec!["ann@example.com"]);
            assert_eq!(shared.mailbox.kind, "shared");
            assert_eq!(shared.mailbox.quota_bytes, Some(1 << 30), "basic: 1 GiB");
            passwords.push(pw.password);
        }
        assert_eq!(
            code(
                a.create_shared_mailbox(
                    op,
                    org,
                    NewSharedMailbox {
                        local_part: "desk3".into(),
                        ..NewSharedMailbox::default()
                    }
                )
                .await
            ),
            ErrorCode::LimitExceeded
        );
        let store = a.store().clone();
        assert_eq!(
            try_login(
                store.as_ref(),
                "desk0@example.com",
                &passwords[0],
                Protocol::Imap,
                "127.0.0.1"
            )
            .await,
            Ok(())
        );
        assert_eq!(
            try_login(
                store.as_ref(),
                "desk0@example.com",
                &passwords[1],
                Protocol::Imap,
                "127.0.0.1"
            )
            .await,
            Err(LoginFailure::BadPassword),
            "each business mailbox has its own password"
        );
        // Reclaiming one frees a slot (it waits 60 days in the bin).
        let shared = a.list_shared_mailboxes(op, org).await.unwrap();
        let entry = a
            .delete_member(op, AccountId(shared[0].mailbox.id))
            .await
            .unwrap();
        assert_eq!(entry.purge_at - entry.deleted, 60 * 86_400);
        assert_eq!(a.list_shared_mailboxes(op, org).await.unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn recycle_bin_restore_reassign_export_purge_and_expiry() {
    both(|store| async move {
        let fx = fixture(store, "professional").await;
        let (a, op, org) = (&fx.admin, &fx.op, fx.org);
        let store = a.store().clone();
        a.update_settings(
            op,
            org,
            SettingsPatch {
                welcome: Some(WelcomeLetter {
                    enabled: false,
                    subject: None,
                    body: None,
                }),
                ..SettingsPatch::default()
            },
        )
        .await
        .unwrap();
        let tom = a
            .create_member(op, org, member("tom"))
            .await
            .unwrap()
            .member;
        let ann = a
            .create_member(op, org, member("ann"))
            .await
            .unwrap()
            .member;
        let tom_id = AccountId(tom.id);
        let inbox = store.mailbox(tom_id, INBOX).await.unwrap().unwrap();
        let raw = bytes::Bytes::from_static(
            b"Subject: keep me\r\n\r\nFrom the start\r\n>From quoted\r\n",
        );
        store
            .deliver(
                raw.clone(),
                1_700_000_000,
                &[mailcore_store::mailbox::DeliveryTarget {
                    mailbox: inbox.id,
                    flags: Default::default(),
                }],
            )
            .await
            .unwrap();
        let entry = a.delete_member(op, tom_id).await.unwrap();
        assert_eq!(entry.purge_at - entry.deleted, 30 * 86_400);
        assert!(
            a.list_members(op, org)
                .await
                .unwrap()
                .iter()
                .all(|m| m.id != tom.id)
        );
        assert_eq!(
            try_login(
                store.as_ref(),
                "tom@example.com",
                PW,
                Protocol::Imap,
                "127.0.0.1"
            )
            .await,
            Err(LoginFailure::Disabled)
        );
        assert_eq!(a.recycle_bin(op, org).await.unwrap().len(), 1);
        // Export as mbox (mboxrd quoting).
        let mbox = String::from_utf8(a.export_mbox(op, tom_id).await.unwrap()).unwrap();
        assert!(mbox.starts_with("From tom@example.com "), "{mbox}");
        assert!(mbox.contains("X-Mailcore-Folder: INBOX\n"), "{mbox}");
        assert!(mbox.contains("\n>From the start\n"), "{mbox}");
        assert!(mbox.contains("\n>>From quoted\n"), "{mbox}");
        // Restore: the member and their mail come back.
        let restored = a.restore(op, tom_id).await.unwrap();
        assert!(restored.enabled);
        assert_eq!(
            try_login(
                store.as_ref(),
                "tom@example.com",
                PW,
                Protocol::Imap,
                "127.0.0.1"
            )
            .await,
            Ok(())
        );
        let msgs = store.messages(inbox.id, 1..=u32::MAX).await.unwrap();
        assert_eq!(msgs.len(), 1);
        // Reassign: the mail moves to another member, the account is purged.
        a.delete_member(op, tom_id).await.unwrap();
        let moved = a.reassign(op, tom_id, AccountId(ann.id)).await.unwrap();
        assert_eq!(moved, 1);
        let folder = store
            .mailbox(AccountId(ann.id), "Recycled/tom@example.com")
            .await
            .unwrap()
            .unwrap();
        let msgs = store.messages(folder.id, 1..=u32::MAX).await.unwrap();
        assert_eq!(
            store.read_message(folder.id, msgs[0].uid).await.unwrap(),
            Some(raw)
        );
        assert!(store.account(tom_id).await.unwrap().is_none());
        assert!(matches!(
            store
                .resolve(&"tom@example.com".parse().unwrap())
                .await
                .unwrap(),
            Resolved::Unknown
        ));
        // Expiry: purged automatically once the period is over, not before.
        let bob = a
            .create_member(op, org, member("bob"))
            .await
            .unwrap()
            .member;
        let entry = a.delete_member(op, AccountId(bob.id)).await.unwrap();
        assert!(
            a.purge_expired(entry.purge_at - 1)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            a.purge_expired(entry.purge_at + 1).await.unwrap(),
            vec!["bob@example.com"]
        );
        assert!(store.account(AccountId(bob.id)).await.unwrap().is_none());
        assert!(a.recycle_bin(op, org).await.unwrap().is_empty());
        // The creator cannot be deleted.
        assert_eq!(
            code(a.delete_member(op, fx.creator).await),
            ErrorCode::Conflict
        );
    })
    .await;
}

#[tokio::test]
async fn app_passwords_secure_login_protocols_and_ip_restriction() {
    both(|store| async move {
        let fx = fixture(store, "professional").await;
        let (a, op, org) = (&fx.admin, &fx.op, fx.org);
        let store = a.store().clone();
        let s = store.as_ref();
        let dept = a.create_department(op, org, "Field", None).await.unwrap();
        let sub = a
            .create_department(op, org, "North", Some(dept.id))
            .await
            .unwrap();
        let tom = a
            .create_member(
                op,
                org,
                NewMember {
                    departments: vec![sub.id],
                    ..member("tom")
                },
            )
            .await
            .unwrap()
            .member;
        let id = AccountId(tom.id);
        let local = "127.0.0.1";
        // A member creates their own app password.
        let me = Caller {
            name: tom.address.clone(),
            account: Some(id),
            org: Some(org),
            role: None,
        };
        let app = a.create_app_password(&me, id, "phone").await.unwrap();
        assert_eq!(a.list_app_passwords(&me, id).await.unwrap().len(), 1);
        assert_eq!(
            try_login(s, "tom@example.com", &app.password, Protocol::Imap, local).await,
            Ok(())
        );
        assert_eq!(
            try_login(s, "tom@example.com", PW, Protocol::Imap, local).await,
            Ok(())
        );
        // Secure login for chosen members: the main password stops working on every protocol.
        a.update_settings(
            op,
            org,
            SettingsPatch {
                secure_login_members: Some(vec![tom.id]),
                ..SettingsPatch::default()
            },
        )
        .await
        .unwrap();
        for p in [Protocol::Imap, Protocol::Pop3, Protocol::Submission] {
            assert_eq!(
                try_login(s, "tom@example.com", PW, p, local).await,
                Err(LoginFailure::AppPasswordRequired)
            );
            assert_eq!(
                try_login(s, "TOM@example.com", &app.password.to_uppercase(), p, local).await,
                Ok(())
            );
        }
        // Revoked: the app password stops working.
        a.revoke_app_password(&me, id, &app.info.id).await.unwrap();
        assert_eq!(
            try_login(s, "tom@example.com", &app.password, Protocol::Imap, local).await,
            Err(LoginFailure::BadPassword)
        );
        a.update_settings(
            op,
            org,
            SettingsPatch {
                secure_login_members: Some(vec![]),
                ..SettingsPatch::default()
            },
        )
        .await
        .unwrap();
        // Protocol switches: organisation, then the nearest department, then the member.
        a.update_settings(
            op,
            org,
            SettingsPatch {
                protocols: Some(ProtocolSwitches {
                    imap: true,
                    pop3: false,
                    smtp: true,
                }),
                ..SettingsPatch::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            try_login(s, "tom@example.com", PW, Protocol::Pop3, local).await,
            Err(LoginFailure::ProtocolDisabled)
        );
        a.update_department(
            op,
            org,
            dept.id,
            None,
            None,
            Some(Some(ProtocolSwitches {
                imap: false,
                pop3: true,
                smtp: true,
            })),
        )
        .await
        .unwrap();
        assert_eq!(
            try_login(s, "tom@example.com", PW, Protocol::Pop3, local).await,
            Ok(()),
            "parent department wins over org"
        );
        assert_eq!(
            try_login(s, "tom@example.com", PW, Protocol::Imap, local).await,
            Err(LoginFailure::ProtocolDisabled)
        );
        a.update_member(
            op,
            id,
            MemberPatch {
                protocols: Some(ProtocolSwitches {
                    imap: true,
                    pop3: true,
                    smtp: false,
                }),
                ..MemberPatch::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            try_login(s, "tom@example.com", PW, Protocol::Imap, local).await,
            Ok(()),
            "member wins"
        );
        assert_eq!(
            try_login(s, "tom@example.com", PW, Protocol::Submission, local).await,
            Err(LoginFailure::ProtocolDisabled)
        );
        // IP restriction with an exempt member.
        let ann = a
            .create_member(op, org, member("ann"))
            .await
            .unwrap()
            .member;
        a.update_settings(
            op,
            org,
            SettingsPatch {
                ip_restriction: Some(IpRestriction {
                    allowed: vec!["192.0.2.0/24".into()],
                    exempt: vec![ann.id],
                }),
                ..SettingsPatch::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            try_login(s, "tom@example.com", PW, Protocol::Imap, local).await,
            Err(LoginFailure::IpNotAllowed)
        );
        assert_eq!(
            try_login(s, "tom@example.com", PW, Protocol::Imap, "192.0.2.9").await,
            Ok(())
        );
        assert_eq!(
            try_login(s, "ann@example.com", PW, Protocol::Imap, local).await,
            Ok(())
        );
        assert_eq!(
            code(
                a.update_settings(
                    op,
                    org,
                    SettingsPatch {
                        ip_restriction: Some(IpRestriction {
                            allowed: vec!["not-an-ip".into()],
                            exempt: vec![]
                        }),
                        ..SettingsPatch::default()
                    }
                )
                .await
            ),
            ErrorCode::Invalid
        );
    })
    .await;
}

/// A tiered administrator with exactly `rights`, scoped to `departments`.
async fn tiered(fx: &Fx, local: &str, rights: Vec<Right>, departments: Vec<i64>) -> Caller {
    let acc = fx
        .admin
        .create_member(&fx.op, fx.org, member(local))
        .await
        .unwrap()
        .member;
    fx.admin
        .grant_admin(
            &fx.op,
            AccountId(acc.id),
            Role::Tiered {
                rights,
                departments,
            },
        )
        .await
        .unwrap();
    let token = fx
        .admin
        .create_token(Some(AccountId(acc.id)), "test")
        .await
        .unwrap();
    fx.admin.authenticate_token(&token).await.unwrap()
}

#[tokio::test]
async fn every_right_is_checked_and_scopes_hold() {
    both(|store| async move {
        let fx = fixture(store, "professional").await;
        let (a, op, org) = (&fx.admin, &fx.op, fx.org);
        let d1 = a.create_department(op, org, "D1", None).await.unwrap();
        let d2 = a.create_department(op, org, "D2", None).await.unwrap();
        let m1 = a
            .create_member(
                op,
                org,
                NewMember {
                    departments: vec![d1.id],
                    ..member("m1")
                },
            )
            .await
            .unwrap()
            .member;
        let m2 = a
            .create_member(
                op,
                org,
                NewMember {
                    departments: vec![d2.id],
                    ..member("m2")
                },
            )
            .await
            .unwrap()
            .member;
        let now = mailcore_store::now();
        for (i, right) in Right::ALL.into_iter().enumerate() {
            let without = tiered(
                &fx,
                &format!("no{i}"),
                Right::ALL.into_iter().filter(|r| *r != right).collect(),
                vec![],
            )
            .await;
            let with = tiered(&fx, &format!("yes{i}"), vec![right], vec![]).await;
            // One operation needing exactly this right; run it as both admins.
            for (caller, allowed) in [(&without, false), (&with, true)] {
                let result: Result<(), mailcore_store::admin::AdminError> = match right {
                    Right::Members => a
                        .update_member(
                            caller,
                            AccountId(m1.id),
                            MemberPatch {
                                phone: Some(format!("{i}")),
                                ..MemberPatch::default()
                            },
                        )
                        .await
                        .map(|_| ()),
                    Right::Departments => a
                        .create_department(caller, org, &format!("new{i}{allowed}"), None)
                        .await
                        .map(|_| ()),
                    Right::Groups => a
                        .create_group(
                            caller,
                            GroupSpec {
                                address: format!("g{i}{allowed}@example.com"),
                                ..GroupSpec::default()
                            },
                        )
                        .await
                        .map(|_| ()),
                    Right::SharedMailboxes => {
                        a.list_shared_mailboxes(caller, org).await.map(|_| ()).and(
                            a.set_shared_users(caller, AccountId(m1.id), vec![])
                                .await
                                .map(|_| ())
                                .or_else(|e| {
                                    if e.code == ErrorCode::Invalid {
                                        Ok(())
                                    } else {
                                        Err(e)
                                    }
                                }),
                        )
                    }
                    Right::Domains => a
                        .domain_verification_token(caller, "example.com")
                        .await
                        .map(|_| ()),
                    Right::Security => a
                        .update_settings(
                            caller,
                            org,
                            SettingsPatch {
                                secure_login: Some(false),
                                ..SettingsPatch::default()
                            },
                        )
                        .await
                        .map(|_| ()),
                    Right::Settings => a
                        .update_settings(
                            caller,
                            org,
                            SettingsPatch {
                                allow_auto_forward: Some(true),
                                ..SettingsPatch::default()
                            },
                        )
                        .await
                        .map(|_| ()),
                    Right::RecycleBin => a.recycle_bin(caller, org).await.map(|_| ()),
                    Right::Logs => a
                        .query_logs(caller, org, LogQuery::all(LogKind::Login, 10))
                        .await
                        .map(|_| ()),
                    Right::Statistics => a
                        .statistics(caller, org, now - 86_400, now)
                        .await
                        .map(|_| ()),
                    _ => unreachable!(),
                };
                if allowed {
                    result.unwrap_or_else(|e| panic!("{right:?} with the right: {e}"));
                } else {
                    assert_eq!(
                        result.map_err(|e| e.code),
                        Err(ErrorCode::Forbidden),
                        "{right:?} without the right"
                    );
                }
            }
        }
        // Scope: an administrator of D1 manages m1 but not m2, and cannot create outside D1.
        let scoped = tiered(&fx, "scoped", vec![Right::Members], vec![d1.id]).await;
        a.update_member(
            &scoped,
            AccountId(m1.id),
            MemberPatch {
                phone: Some("1".into()),
                ..MemberPatch::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(
            code(
                a.update_member(
                    &scoped,
                    AccountId(m2.id),
                    MemberPatch {
                        phone: Some("1".into()),
                        ..MemberPatch::default()
                    }
                )
                .await
            ),
            ErrorCode::Forbidden
        );
        assert_eq!(
            code(
                a.create_member(
                    &scoped,
                    org,
                    NewMember {
                        departments: vec![d2.id],
                        ..member("x2")
                    }
                )
                .await
            ),
            ErrorCode::Forbidden
        );
        a.create_member(
            &scoped,
            org,
            NewMember {
                departments: vec![d1.id],
                ..member("x1")
            },
        )
        .await
        .unwrap();
        assert!(
            a.list_members(&scoped, org)
                .await
                .unwrap()
                .iter()
                .all(|m| m.departments.contains(&d1.id))
        );
        // Tiered and super admins cannot manage administrators or move the creator role.
        assert_eq!(
            code(a.grant_admin(&scoped, AccountId(m2.id), Role::Super).await),
            ErrorCode::Forbidden
        );
        let sup = {
            a.grant_admin(op, AccountId(m2.id), Role::Super)
                .await
                .unwrap();
            a.authenticate_token(&a.create_token(Some(AccountId(m2.id)), "s").await.unwrap())
                .await
                .unwrap()
        };
        assert_eq!(
            code(a.transfer_creator(&sup, AccountId(m2.id)).await),
            ErrorCode::Forbidden
        );
        // The creator transfers the role; the old creator becomes a super admin.
        let boss = a
            .authenticate_token(&a.create_token(Some(fx.creator), "c").await.unwrap())
            .await
            .unwrap();
        a.transfer_creator(&boss, AccountId(m1.id)).await.unwrap();
        let admins = a.list_admins(op, org).await.unwrap();
        assert_eq!(admins.iter().filter(|g| g.role == Role::Creator).count(), 1);
        assert!(
            admins
                .iter()
                .any(|g| g.account == m1.id && g.role == Role::Creator)
        );
        assert!(
            admins
                .iter()
                .any(|g| g.account == fx.creator.0 && g.role == Role::Super)
        );
        // Another organisation is out of reach even for its super admins.
        let other = a
            .create_org(op, "Other", "basic", "chief", PW)
            .await
            .unwrap();
        assert_eq!(
            code(a.list_members(&sup, OrgId(other.id)).await),
            ErrorCode::Forbidden
        );
        // Revoked tokens and roles stop working.
        let token = a.create_token(Some(AccountId(m2.id)), "r").await.unwrap();
        a.revoke_admin(op, AccountId(m2.id)).await.unwrap();
        assert_eq!(
            code(a.authenticate_token(&token).await),
            ErrorCode::Unauthenticated
        );
        assert!(a.revoke_token(&token).await.unwrap());
        assert_eq!(
            code(a.authenticate_token("mct_bogus").await),
            ErrorCode::Unauthenticated
        );
    })
    .await;
}

#[tokio::test]
async fn log_retention_follows_the_edition() {
    both(|store| async move {
        let fx = fixture(store, "basic").await;
        let (a, org) = (&fx.admin, fx.org);
        let now = mailcore_store::now();
        for age_days in [10, 100, 200] {
            a.store()
                .append_log(mailcore_store::log::NewLogRecord {
                    kind: LogKind::Login,
                    time: now - age_days * 86_400,
                    org: Some(org),
                    account: None,
                    data: serde_json::json!({"age": age_days}),
                })
                .await
                .unwrap();
        }
        a.purge_expired_logs(now).await.unwrap();
        let (total, _) = a
            .query_logs(&fx.op, org, LogQuery::all(LogKind::Login, 10))
            .await
            .unwrap();
        assert_eq!(total, 1, "basic keeps about 3 months");
        let csv = a
            .export_logs_csv(&fx.op, org, LogQuery::all(LogKind::Operation, 10))
            .await
            .unwrap();
        assert!(
            csv.starts_with("time,actor,action,target,before,after"),
            "{csv}"
        );
        assert!(csv.contains("org.create"), "{csv}");
    })
    .await;
}
