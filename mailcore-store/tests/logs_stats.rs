#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Log queries (filters, paging, order, text search, counts), per-organisation purges, CSV
//! export and statistics, against the embedded backend (a fresh temp directory) and, when
//! `MAILCORE_TEST_PG` holds a URL, PostgreSQL (a fresh schema, dropped afterwards).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use mailcore_store::Backend;
use mailcore_store::directory::{AccountKind, Edition, NewAccount, OrgId};
use mailcore_store::log::{LogKind, LogQuery, LogRecord, NewLogRecord, csv_columns, to_csv};
use mailcore_store::mailbox::{INBOX, NewMessage};
use mailcore_store::postgres::Postgres;
use mailcore_store::stats::{
    DayStatistics, LOG_PAGE, QUOTA_ALERT_PERCENT, Statistics, statistics, statistics_with_threshold,
};
use serde_json::json;

/// 2023-12-09T00:00:00Z.
const DAY1: i64 = 19_700 * 86_400;
/// 2023-12-10T00:00:00Z.
const DAY2: i64 = DAY1 + 86_400;

fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}_{:x}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

/// Runs `case` on a fresh embedded store, then removes it.
async fn on_embedded<F, Fut>(case: F)
where
    F: FnOnce(Arc<dyn Backend>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir: PathBuf = std::env::temp_dir().join(format!("mailcore-logs-stats-{}", unique()));
    let store = mailcore_store::open(dir.to_str().unwrap()).await.unwrap();
    case(store).await;
    std::fs::remove_dir_all(&dir).ok();
}

/// Runs `case` on PostgreSQL in a fresh schema, then drops it; skipped without
/// `MAILCORE_TEST_PG`.
async fn on_postgres<F, Fut>(case: F)
where
    F: FnOnce(Arc<dyn Backend>) -> Fut,
    Fut: Future<Output = ()>,
{
    let url = match std::env::var("MAILCORE_TEST_PG") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            println!("PostgreSQL skipped: set MAILCORE_TEST_PG=postgres://user@host:port/db");
            return;
        }
    };
    let schema = format!("logs_stats_{}", unique());
    let pg = Arc::new(Postgres::connect_schema(&url, &schema).await.unwrap());
    case(pg.clone()).await;
    pg.drop_schema().await.unwrap();
}

fn record(
    kind: LogKind,
    time: i64,
    org: Option<OrgId>,
    account: Option<&str>,
    data: serde_json::Value,
) -> NewLogRecord {
    NewLogRecord {
        kind,
        time,
        org,
        account: account.map(str::to_owned),
        data,
    }
}

fn mail(subject: &str, direction: &str, internal: bool, result: &str) -> serde_json::Value {
    json!({
        "from": "tom@a.example", "to": ["ann@b.example"], "subject": subject, "size": 100,
        "result": result, "direction": direction, "internal": internal,
    })
}

fn login(user: &str, result: &str) -> serde_json::Value {
    json!({
        "protocol": "imap", "user": user, "ip": "192.0.2.1", "mechanism": "PLAIN",
        "result": result, "reason": if result == "success" { "" } else { "bad password" },
    })
}

fn subjects(records: &[LogRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| r.data["subject"].as_str().unwrap_or_default().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Queries

async fn query_filters(s: Arc<dyn Backend>) {
    let (a, b) = (OrgId(1), OrgId(2));
    // Ten mail records, ten seconds apart: even ones in org a, odd ones in org b; every third
    // one is tom's.
    for i in 0..10_i64 {
        let org = if i % 2 == 0 { a } else { b };
        let account = if i % 3 == 0 {
            "tom@a.example"
        } else {
            "ann@a.example"
        };
        s.append_log(record(
            LogKind::Mail,
            DAY1 + i * 10,
            Some(org),
            Some(account),
            mail(&format!("m{i}"), "sent", false, "delivered"),
        ))
        .await
        .unwrap();
    }
    // Another log: never returned by mail queries.
    s.append_log(record(
        LogKind::Login,
        DAY1,
        Some(a),
        Some("tom@a.example"),
        login("tom@a.example", "success"),
    ))
    .await
    .unwrap();

    let all = LogQuery::all(LogKind::Mail, 100);
    let got = s.query_logs(&all).await.unwrap();
    assert_eq!(
        subjects(&got),
        (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>()
    );
    assert_eq!(s.count_logs(&all).await.unwrap(), 10);
    assert_eq!(
        s.count_logs(&LogQuery::all(LogKind::Login, 100))
            .await
            .unwrap(),
        1
    );

    // org
    let q = all.clone().org(a);
    assert_eq!(
        subjects(&s.query_logs(&q).await.unwrap()),
        ["m0", "m2", "m4", "m6", "m8"]
    );
    assert_eq!(s.count_logs(&q).await.unwrap(), 5);

    // account, and account within org
    let q = all.clone().account("tom@a.example");
    assert_eq!(
        subjects(&s.query_logs(&q).await.unwrap()),
        ["m0", "m3", "m6", "m9"]
    );
    let q = q.org(b);
    assert_eq!(subjects(&s.query_logs(&q).await.unwrap()), ["m3", "m9"]);
    assert_eq!(s.count_logs(&q).await.unwrap(), 2);

    // since inclusive, until exclusive
    let q = all.clone().since(DAY1 + 20).until(DAY1 + 50);
    assert_eq!(
        subjects(&s.query_logs(&q).await.unwrap()),
        ["m2", "m3", "m4"]
    );
    assert_eq!(s.count_logs(&q).await.unwrap(), 3);

    // offset and limit, oldest first
    let q = all.clone().offset(2).limit(3);
    assert_eq!(
        subjects(&s.query_logs(&q).await.unwrap()),
        ["m2", "m3", "m4"]
    );
    // count ignores offset and limit
    assert_eq!(s.count_logs(&q).await.unwrap(), 10);
    // offset past the end
    assert!(
        s.query_logs(&all.clone().offset(10))
            .await
            .unwrap()
            .is_empty()
    );

    // newest first, with offset, with filters
    let q = all.clone().newest_first(true).limit(3);
    assert_eq!(
        subjects(&s.query_logs(&q).await.unwrap()),
        ["m9", "m8", "m7"]
    );
    let q = q.offset(1);
    assert_eq!(
        subjects(&s.query_logs(&q).await.unwrap()),
        ["m8", "m7", "m6"]
    );
    let q = all.clone().org(a).newest_first(true).offset(1).limit(2);
    assert_eq!(subjects(&s.query_logs(&q).await.unwrap()), ["m6", "m4"]);

    // newest first breaks ties in time by append order, reversed
    for subject in ["tie1", "tie2", "tie3"] {
        s.append_log(record(
            LogKind::Mail,
            DAY2,
            Some(a),
            None,
            mail(subject, "received", true, "delivered"),
        ))
        .await
        .unwrap();
    }
    let q = all.clone().since(DAY2);
    assert_eq!(
        subjects(&s.query_logs(&q).await.unwrap()),
        ["tie1", "tie2", "tie3"]
    );
    assert_eq!(
        subjects(&s.query_logs(&q.newest_first(true)).await.unwrap()),
        ["tie3", "tie2", "tie1"]
    );
}

async fn query_contains(s: Arc<dyn Backend>) {
    let org = Some(OrgId(1));
    for (time, subject, from) in [
        (1, "Quarterly INVOICE", "billing@vendor.example"),
        (2, "lunch?", "Ann.Lee@A.example"),
        (3, "Réunion à Zürich", "tom@a.example"),
        (4, "He said \"hi\", then left", "tom@a.example"),
        (5, "50% off", "spam@x.example"),
        (6, "line one\nline two", "tom@a.example"),
    ] {
        let mut data = mail(subject, "received", false, "delivered");
        data["from"] = json!(from);
        s.append_log(record(LogKind::Mail, time, org, None, data))
            .await
            .unwrap();
    }
    let found = |text: &str| {
        let q = LogQuery::all(LogKind::Mail, 100).contains(text);
        let s = s.clone();
        async move {
            let got = subjects(&s.query_logs(&q).await.unwrap());
            assert_eq!(s.count_logs(&q).await.unwrap(), got.len() as u64, "{q:?}");
            got
        }
    };
    // ASCII case is ignored, in the search text and in the record
    assert_eq!(found("invoice").await, ["Quarterly INVOICE"]);
    assert_eq!(found("InVoIcE").await, ["Quarterly INVOICE"]);
    // sender
    assert_eq!(found("ann.lee@a.EXAMPLE").await, ["lunch?"]);
    assert_eq!(found("vendor.example").await, ["Quarterly INVOICE"]);
    // non-ASCII matches exactly
    assert_eq!(found("zürich").await, ["Réunion à Zürich"]);
    assert_eq!(found("réunion").await, ["Réunion à Zürich"]);
    // characters JSON escapes are searched for as the user typed them
    assert_eq!(found("said \"hi\",").await, ["He said \"hi\", then left"]);
    assert_eq!(found("one\nline").await, ["line one\nline two"]);
    // LIKE wildcards are plain characters
    assert_eq!(found("50%").await, ["50% off"]);
    assert!(found("%").await.len() == 1);
    assert!(found("_").await.is_empty());
    assert!(found("nothing like it").await.is_empty());
    // combined with other filters and paging
    let q = LogQuery::all(LogKind::Mail, 1)
        .contains("tom@a.example")
        .newest_first(true)
        .offset(1);
    assert_eq!(
        subjects(&s.query_logs(&q).await.unwrap()),
        ["He said \"hi\", then left"]
    );
    assert_eq!(s.count_logs(&q).await.unwrap(), 3);
    assert_eq!(s.count_logs(&q.clone().until(4)).await.unwrap(), 1);
}

async fn purge_per_org(s: Arc<dyn Backend>) {
    let (a, b) = (Some(OrgId(1)), Some(OrgId(2)));
    for org in [a, b, None] {
        for time in [100, 200, 300] {
            for kind in [LogKind::Mail, LogKind::Login] {
                s.append_log(record(kind, time, org, None, json!({"t": time})))
                    .await
                    .unwrap();
            }
        }
    }
    let count = |kind: LogKind, org: Option<OrgId>| {
        let s = s.clone();
        async move {
            let mut q = LogQuery::all(kind, 100);
            q.org = org;
            if org.is_some() {
                s.count_logs(&q).await.unwrap()
            } else {
                // The records of no organisation: all minus those of a and b.
                let all = s.count_logs(&q).await.unwrap();
                all - s.count_logs(&q.clone().org(OrgId(1))).await.unwrap()
                    - s.count_logs(&q.org(OrgId(2))).await.unwrap()
            }
        }
    };
    assert_eq!(s.purge_org_logs(LogKind::Mail, a, 250).await.unwrap(), 2);
    assert_eq!(count(LogKind::Mail, a).await, 1);
    assert_eq!(count(LogKind::Mail, b).await, 3, "other orgs' records stay");
    assert_eq!(count(LogKind::Mail, None).await, 3, "org-less records stay");
    assert_eq!(count(LogKind::Login, a).await, 3, "other logs stay");
    // before is exclusive
    assert_eq!(s.purge_org_logs(LogKind::Mail, b, 300).await.unwrap(), 2);
    assert_eq!(count(LogKind::Mail, b).await, 1);
    // None: the records without an organisation
    assert_eq!(
        s.purge_org_logs(LogKind::Mail, None, 1000).await.unwrap(),
        3
    );
    assert_eq!(count(LogKind::Mail, None).await, 0);
    assert_eq!(count(LogKind::Mail, a).await, 1);
    assert_eq!(count(LogKind::Mail, b).await, 1);
    // nothing left to purge
    assert_eq!(s.purge_org_logs(LogKind::Mail, a, 250).await.unwrap(), 0);
    assert_eq!(
        s.count_logs(&LogQuery::all(LogKind::Login, 100))
            .await
            .unwrap(),
        9
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_query_filters() {
    on_embedded(query_filters).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_query_filters() {
    on_postgres(query_filters).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_query_contains() {
    on_embedded(query_contains).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_query_contains() {
    on_postgres(query_contains).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_purge_per_org() {
    on_embedded(purge_per_org).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_purge_per_org() {
    on_postgres(purge_per_org).await;
}

// ---------------------------------------------------------------------------------------------
// CSV

fn read_csv(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

fn stored(kind: LogKind, time: i64, account: Option<&str>, data: serde_json::Value) -> LogRecord {
    LogRecord {
        id: 1,
        kind,
        time,
        org: None,
        account: account.map(str::to_owned),
        data,
    }
}

#[test]
fn csv_mail_quotes_commas_quotes_and_newlines() {
    let subject = "Re: a, b and \"c\"\nsecond line\r\nthird";
    let records = [
        stored(
            LogKind::Mail,
            DAY1 + 3_723,
            None,
            json!({
                "from": "tom@a.example", "to": ["ann@a.example", "bob@b.example"],
                "subject": subject, "size": 1234, "result": "delivered",
                "direction": "sent", "internal": false,
            }),
        ),
        stored(
            LogKind::Mail,
            DAY2 - 1,
            None,
            json!({
                "from": "", "to": [], "subject": null, "size": 0, "result": "rejected",
                "direction": "received", "internal": true,
            }),
        ),
    ];
    let text = to_csv(LogKind::Mail, &records);
    let rows = read_csv(&text);
    assert_eq!(
        rows,
        [
            csv_columns(LogKind::Mail)
                .iter()
                .map(|c| (*c).to_owned())
                .collect::<Vec<_>>(),
            vec![
                "2023-12-09T01:02:03Z".into(),
                "tom@a.example".into(),
                "ann@a.example; bob@b.example".into(),
                subject.to_owned(),
                "1234".into(),
                "delivered".into(),
                "sent".into(),
                "false".into(),
            ],
            vec![
                "2023-12-09T23:59:59Z".into(),
                String::new(),
                String::new(),
                String::new(),
                "0".into(),
                "rejected".into(),
                "received".into(),
                "true".into(),
            ],
        ]
    );
    assert_eq!(
        rows[0],
        [
            "time",
            "from",
            "to",
            "subject",
            "size",
            "result",
            "direction",
            "internal"
        ]
    );
}

#[test]
fn csv_login_and_operation_columns() {
    let logins = [stored(
        LogKind::Login,
        0,
        Some("tom@a.example"),
        json!({"protocol": "pop3", "user": "Tom@A.example", "ip": null, "mechanism": "USER",
               "result": "failure", "reason": "bad password, twice"}),
    )];
    let rows = read_csv(&to_csv(LogKind::Login, &logins));
    assert_eq!(
        rows,
        [
            vec![
                "time",
                "account",
                "user",
                "protocol",
                "ip",
                "mechanism",
                "result",
                "reason"
            ],
            vec![
                "1970-01-01T00:00:00Z",
                "tom@a.example",
                "Tom@A.example",
                "pop3",
                "",
                "USER",
                "failure",
                "bad password, twice"
            ],
        ]
    );

    let before = json!({"quota": 100, "note": "a,\"b\""});
    let ops = [stored(
        LogKind::Operation,
        DAY2,
        None,
        json!({"actor": "admin@a.example", "action": "set quota", "target": "tom@a.example",
               "before": before, "after": null}),
    )];
    let rows = read_csv(&to_csv(LogKind::Operation, &ops));
    assert_eq!(
        rows[0],
        ["time", "actor", "action", "target", "before", "after"]
    );
    assert_eq!(rows[1][0], "2023-12-10T00:00:00Z");
    assert_eq!(
        rows[1][1..4],
        ["admin@a.example", "set quota", "tom@a.example"]
    );
    let parsed: serde_json::Value = serde_json::from_str(&rows[1][4]).unwrap();
    assert_eq!(parsed, before, "before is JSON text");
    assert_eq!(rows[1][5], "", "null is empty");

    // No records: the header alone.
    assert_eq!(
        to_csv(LogKind::Operation, &[]),
        "time,actor,action,target,before,after\r\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Statistics

/// Creates an account with `quota` and fills its inbox with `used` bytes.
async fn member(s: &dyn Backend, org: OrgId, address: &str, quota: Option<u64>, used: usize) {
    let account = s
        .create_account(NewAccount {
            org,
            address: address.parse().unwrap(),
            display_name: None,
            password_hash: None,
            quota_bytes: quota,
            kind: AccountKind::Member,
        })
        .await
        .unwrap();
    s.ensure_default_mailboxes(account.id).await.unwrap();
    if used > 0 {
        let inbox = s.mailbox(account.id, INBOX).await.unwrap().unwrap();
        let head = "Subject: filler\r\n\r\n";
        let raw = format!("{head}{}", "x".repeat(used - head.len()));
        s.append(
            inbox.id,
            NewMessage {
                raw: Bytes::from(raw),
                flags: Default::default(),
                internal_date: DAY1,
            },
        )
        .await
        .unwrap();
    }
    assert_eq!(s.quota_usage(account.id).await.unwrap().bytes, used as u64);
}

async fn statistics_per_day(s: Arc<dyn Backend>) {
    let org = s.create_org("Stats", Edition::Basic).await.unwrap().id;
    s.add_domain(org, &"stats.example".parse().unwrap())
        .await
        .unwrap();
    let other = s.create_org("Other", Edition::Basic).await.unwrap().id;
    member(&*s, org, "full@stats.example", Some(1000), 950).await;
    member(&*s, org, "half@stats.example", Some(1000), 500).await;
    member(&*s, org, "free@stats.example", None, 5000).await;

    let full = Some("full@stats.example");
    let half = Some("half@stats.example");
    let free = Some("free@stats.example");
    let logins = [
        // day 1
        (DAY1, Some(org), full, "success"),
        (DAY1 + 3600, Some(org), full, "success"),
        (DAY1 + 7200, Some(org), half, "success"),
        (DAY2 - 1, Some(org), half, "failure"),
        // day 2
        (DAY2, Some(org), full, "success"),
        (DAY2 + 60, Some(org), free, "failure"),
        (DAY2 + 120, Some(org), free, "failure"),
        // outside the range, or another organisation's
        (DAY1 - 1, Some(org), free, "success"),
        (DAY2 + 86_400, Some(org), free, "success"),
        (DAY1 + 10, Some(other), Some("x@other.example"), "success"),
        (DAY1 + 10, None, Some("y@nowhere.example"), "success"),
    ];
    for (time, o, account, result) in logins {
        s.append_log(record(
            LogKind::Login,
            time,
            o,
            account,
            login(account.unwrap_or_default(), result),
        ))
        .await
        .unwrap();
    }
    let mails = [
        // day 1
        (DAY1 + 1, Some(org), "sent", true, "delivered"),
        (DAY1 + 2, Some(org), "sent", false, "delivered"),
        (DAY1 + 3, Some(org), "sent", false, "delivered"),
        (DAY1 + 4, Some(org), "received", false, "delivered"),
        (DAY1 + 5, Some(org), "received", false, "spam"),
        (DAY2 - 1, Some(org), "received", false, "rejected"),
        // day 2
        (DAY2, Some(org), "received", true, "delivered"),
        (DAY2 + 86_399, Some(org), "sent", false, "delivered"),
        // outside the range (until is exclusive), or another organisation's
        (DAY2 + 86_400, Some(org), "sent", false, "delivered"),
        (DAY1 + 6, Some(other), "received", false, "spam"),
    ];
    for (time, o, direction, internal, result) in mails {
        s.append_log(record(
            LogKind::Mail,
            time,
            o,
            full,
            mail("s", direction, internal, result),
        ))
        .await
        .unwrap();
    }

    let stats = statistics(&*s, org, DAY1, DAY2 + 86_400).await.unwrap();
    let day = |day: &str| DayStatistics {
        day: day.to_owned(),
        ..DayStatistics::default()
    };
    let day1 = DayStatistics {
        logins: 3,
        distinct_members_logged_in: 2,
        failed_logins: 1,
        sent_internal: 1,
        sent_external: 2,
        received_internal: 0,
        received_external: 3,
        spam_blocked: 1,
        rejected: 1,
        ..day("2023-12-09")
    };
    let day2 = DayStatistics {
        logins: 1,
        distinct_members_logged_in: 1,
        failed_logins: 2,
        sent_internal: 0,
        sent_external: 1,
        received_internal: 1,
        received_external: 0,
        spam_blocked: 0,
        rejected: 0,
        ..day("2023-12-10")
    };
    let totals = DayStatistics {
        logins: 4,
        distinct_members_logged_in: 2,
        failed_logins: 3,
        sent_internal: 1,
        sent_external: 3,
        received_internal: 1,
        received_external: 3,
        spam_blocked: 1,
        rejected: 1,
        ..day("total")
    };
    assert_eq!(stats.since, DAY1);
    assert_eq!(stats.until, DAY2 + 86_400);
    assert_eq!(stats.days, [day1.clone(), day2]);
    assert_eq!(stats.totals, totals);

    // Quota: 95 % is listed, 50 % is not, no quota never is.
    assert_eq!(QUOTA_ALERT_PERCENT, 90);
    assert_eq!(stats.quota_alerts.len(), 1, "{:?}", stats.quota_alerts);
    let alert = &stats.quota_alerts[0];
    assert_eq!(alert.address, "full@stats.example");
    assert_eq!(alert.quota_bytes, 1000);
    assert_eq!(alert.used_bytes, 950);
    assert_eq!(alert.free_bytes, 50);
    assert!((alert.percent - 95.0).abs() < 1e-9, "{}", alert.percent);

    // A lower threshold lists both, fullest first.
    let lower = statistics_with_threshold(&*s, org, DAY1, DAY2 + 86_400, 50)
        .await
        .unwrap();
    let listed: Vec<_> = lower
        .quota_alerts
        .iter()
        .map(|a| a.address.as_str())
        .collect();
    assert_eq!(listed, ["full@stats.example", "half@stats.example"]);
    assert!((lower.quota_alerts[1].percent - 50.0).abs() < 1e-9);
    assert_eq!(lower.days, stats.days);
    let higher = statistics_with_threshold(&*s, org, DAY1, DAY2 + 86_400, 96)
        .await
        .unwrap();
    assert!(higher.quota_alerts.is_empty());

    // A range within one day, not aligned to midnight: one bucket, only its records.
    let part = statistics(&*s, org, DAY1 + 2, DAY1 + 3601).await.unwrap();
    assert_eq!(part.days.len(), 1);
    assert_eq!(part.days[0].day, "2023-12-09");
    assert_eq!(part.days[0].logins, 1);
    assert_eq!(part.days[0].sent_external, 2);
    assert_eq!(part.days[0].sent_internal, 0);
    assert_eq!(part.totals.received_external, 2);

    // Days without activity are listed with zeros.
    let wide = statistics(&*s, org, DAY1 - 86_400, DAY2 + 2 * 86_400)
        .await
        .unwrap();
    let names: Vec<_> = wide.days.iter().map(|d| d.day.as_str()).collect();
    assert_eq!(
        names,
        ["2023-12-08", "2023-12-09", "2023-12-10", "2023-12-11"]
    );
    assert_eq!(wide.days[1], day1);
    assert_eq!(
        wide.days[0].logins, 1,
        "the login at 23:59:59 the day before"
    );

    // Another organisation sees its own figures only.
    let theirs = statistics(&*s, other, DAY1, DAY2 + 86_400).await.unwrap();
    assert_eq!(theirs.totals.logins, 1);
    assert_eq!(theirs.totals.spam_blocked, 1);
    assert_eq!(theirs.totals.received_external, 1);
    assert!(theirs.quota_alerts.is_empty());

    // Serialises and reads back.
    let text = serde_json::to_string(&stats).unwrap();
    let back: Statistics = serde_json::from_str(&text).unwrap();
    assert_eq!(back, stats);

    // Empty ranges are refused.
    assert!(statistics(&*s, org, DAY2, DAY2).await.is_err());
    assert!(statistics(&*s, org, DAY2, DAY1).await.is_err());
}

/// More records than one page, many of them in one second: each is counted exactly once.
async fn statistics_pages(s: Arc<dyn Backend>) {
    let org = s.create_org("Busy", Edition::Basic).await.unwrap().id;
    let same_second = LOG_PAGE + LOG_PAGE / 2;
    let spread = LOG_PAGE / 2 + 7;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..same_second + spread {
        let s = s.clone();
        let time = if i < same_second {
            DAY1 + 100
        } else {
            DAY1 + 100 + (i - same_second) as i64 / 3
        };
        let user = format!("u{}@busy.example", i % 37);
        tasks.spawn(async move {
            s.append_log(record(
                LogKind::Login,
                time,
                Some(org),
                Some(&user),
                login(&user, "success"),
            ))
            .await
            .unwrap();
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let total = (same_second + spread) as u64;
    assert_eq!(
        s.count_logs(&LogQuery::all(LogKind::Login, 0).org(org))
            .await
            .unwrap(),
        total
    );
    let stats = statistics(&*s, org, DAY1, DAY2).await.unwrap();
    assert_eq!(stats.totals.logins, total);
    assert_eq!(stats.totals.distinct_members_logged_in, 37);
    assert_eq!(stats.days.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_statistics_per_day() {
    on_embedded(statistics_per_day).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_statistics_per_day() {
    on_postgres(statistics_per_day).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_statistics_pages() {
    on_embedded(statistics_pages).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_statistics_pages() {
    on_postgres(statistics_pages).await;
}
