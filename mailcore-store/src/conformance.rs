//! The storage conformance suite: one set of cases written against the traits of this crate,
//! which every [`Backend`] must pass.
//!
//! ```text
//!  Factory::create ──► fresh, empty store ──► case (Result<(), String>) ──► Factory::destroy
//!        ▲                                                                         │
//!        └──────────────────────────── next case ◄─────────────────────────────────┘
//!                                          │
//!                                          ▼
//!                                   Report (passed / failed with file:line and message)
//! ```
//!
//! Each case runs on its own fresh store, in its own task (a panic or a hang fails that case
//! only), and returns an error naming the file and line of the failed expectation instead of
//! panicking, so one failure never hides the others. Third-party backends run it the same way
//! the bundled ones do:
//!
//! ```ignore
//! struct MyFactory;
//! #[async_trait::async_trait]
//! impl mailcore_store::conformance::Factory for MyFactory {
//!     async fn create(&self) -> Result<std::sync::Arc<dyn mailcore_store::Backend>, String> {
//!         Ok(std::sync::Arc::new(MyStore::new_empty().await.map_err(|e| e.to_string())?))
//!     }
//! }
//! let report = mailcore_store::conformance::run_all(&MyFactory).await;
//! println!("{report}");
//! assert!(report.is_success());
//! ```

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use mailcore::address::{Domain, EmailAddress, ReversePath};

use crate::Backend;
use crate::blob::BlobId;
use crate::directory::{Account, AccountKind, Edition, Group, NewAccount, OrgId, Resolved};
use crate::error::StoreError;
use crate::log::{LogKind, LogQuery, NewLogRecord};
use crate::mailbox::{
    AccountId, Appended, DeliveryTarget, FlagChange, Flags, INBOX, MAX_MAILBOX_NAME, MailboxId,
    MailboxInfo, ModSeq, NewMessage, QuotaUsage, SpecialUse, Uid,
};
use crate::queue::{NewQueueEntry, QueueId, QueueRecipient, RecipientStatus};
use crate::record::Expect;

/// How long one case may run before it is failed (and its task aborted).
pub const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// Creates a fresh, empty store for every case and disposes of it afterwards.
#[async_trait]
pub trait Factory: Send + Sync {
    /// A new, empty store. An error fails the case (it is not a skip).
    async fn create(&self) -> Result<Arc<dyn Backend>, String>;

    /// Disposes of a store made by [`Factory::create`] once its case is over (drop it, remove
    /// its directory or schema). An error fails the case.
    async fn destroy(&self, store: Arc<dyn Backend>) -> Result<(), String> {
        drop(store);
        Ok(())
    }
}

/// The result of one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The case's name (see [`case_names`]).
    pub name: &'static str,
    /// Why it failed (`file:line: message`), or `None` if it passed.
    pub failure: Option<String>,
    /// How long it took, store creation and disposal included.
    pub elapsed: Duration,
}

/// The results of a run, in case order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// One outcome per case run.
    pub outcomes: Vec<Outcome>,
}

impl Report {
    /// The cases that passed.
    pub fn passed(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes.iter().filter(|o| o.failure.is_none())
    }

    /// The cases that failed.
    pub fn failed(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes.iter().filter(|o| o.failure.is_some())
    }

    /// Whether every case run passed.
    pub fn is_success(&self) -> bool {
        self.failed().next().is_none()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for o in &self.outcomes {
            match &o.failure {
                None => writeln!(f, "ok    {:<48} {:>6} ms", o.name, o.elapsed.as_millis())?,
                Some(why) => writeln!(
                    f,
                    "FAIL  {:<48} {:>6} ms\n      {why}",
                    o.name,
                    o.elapsed.as_millis()
                )?,
            }
        }
        let failed = self.failed().count();
        write!(
            f,
            "{} passed, {} failed",
            self.outcomes.len() - failed,
            failed
        )?;
        if failed > 0 {
            write!(f, ":")?;
            for o in self.failed() {
                write!(f, " {}", o.name)?;
            }
        }
        Ok(())
    }
}

/// Runs every case, each on a fresh store.
pub async fn run_all(factory: &dyn Factory) -> Report {
    run_matching(factory, &|_| true).await
}

/// Runs the cases whose name `select` accepts, each on a fresh store.
pub async fn run_matching(factory: &dyn Factory, select: &(dyn Fn(&str) -> bool + Sync)) -> Report {
    let mut report = Report::default();
    for (name, case) in cases() {
        if !select(name) {
            continue;
        }
        let start = Instant::now();
        let failure = match factory.create().await {
            Err(e) => Some(format!("creating the store: {e}")),
            Ok(store) => {
                let mut task = tokio::spawn(case(store.clone()));
                let result = match tokio::time::timeout(CASE_TIMEOUT, &mut task).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => Err(join_failure(e)),
                    Err(_) => {
                        task.abort();
                        Err(format!("timed out after {CASE_TIMEOUT:?}"))
                    }
                };
                let teardown = factory.destroy(store).await;
                match (result, teardown) {
                    (Err(e), _) => Some(e),
                    (Ok(()), Err(e)) => Some(format!("disposing of the store: {e}")),
                    (Ok(()), Ok(())) => None,
                }
            }
        };
        report.outcomes.push(Outcome {
            name,
            failure,
            elapsed: start.elapsed(),
        });
    }
    report
}

/// The names of every case, in the order they run.
pub fn case_names() -> Vec<&'static str> {
    cases().into_iter().map(|(n, _)| n).collect()
}

fn join_failure(e: tokio::task::JoinError) -> String {
    if e.is_panic() {
        let payload = e.into_panic();
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string payload".to_owned());
        format!("panicked: {msg}")
    } else {
        format!("task failed: {e}")
    }
}

// ---------------------------------------------------------------------------------------------
// Expectation macros and helpers

type R<T = ()> = Result<T, String>;
type CaseFuture = Pin<Box<dyn Future<Output = R> + Send>>;
type CaseFn = fn(Arc<dyn Backend>) -> CaseFuture;
type Store = Arc<dyn Backend>;

/// Fails the case with `file:line` unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!("{}:{}: {}", file!(), line!(), format!($($arg)+)));
        }
    };
    ($cond:expr) => {
        if !$cond {
            return Err(format!("{}:{}: expected {}", file!(), line!(), stringify!($cond)));
        }
    };
}

/// Fails the case with `file:line` and both values unless they are equal.
macro_rules! ensure_eq {
    ($left:expr, $right:expr) => {
        ensure_eq!($left, $right, "")
    };
    ($left:expr, $right:expr, $($arg:tt)+) => {
        match (&$left, &$right) {
            (l, r) => {
                if l != r {
                    return Err(format!(
                        "{}:{}: expected {} == {} {}\n        left: {:?}\n       right: {:?}",
                        file!(), line!(), stringify!($left), stringify!($right), format!($($arg)+), l, r
                    ));
                }
            }
        }
    };
}

/// Fails the case unless the result is an error matching the pattern.
macro_rules! ensure_err {
    ($res:expr, $pat:pat, $($arg:tt)+) => {
        match $res {
            Err($pat) => {}
            other => {
                return Err(format!(
                    "{}:{}: {}: expected Err({}), got {:?}",
                    file!(), line!(), format!($($arg)+), stringify!($pat), other
                ));
            }
        }
    };
}

/// Turns a store error into a case failure naming the caller's location.
trait Ctx<T> {
    fn ctx(self, what: &str) -> R<T>;
}

impl<T, E: fmt::Display> Ctx<T> for Result<T, E> {
    #[track_caller]
    fn ctx(self, what: &str) -> R<T> {
        let loc = Location::caller();
        self.map_err(|e| format!("{}:{}: {what}: {e}", loc.file(), loc.line()))
    }
}

/// Turns a missing value into a case failure naming the caller's location.
trait Found<T> {
    fn found(self, what: &str) -> R<T>;
}

impl<T> Found<T> for Option<T> {
    #[track_caller]
    fn found(self, what: &str) -> R<T> {
        let loc = Location::caller();
        self.ok_or_else(|| format!("{}:{}: {what}: not found", loc.file(), loc.line()))
    }
}

#[track_caller]
fn addr(s: &str) -> R<EmailAddress> {
    s.parse::<EmailAddress>().ctx(&format!("address {s:?}"))
}

#[track_caller]
fn dom(s: &str) -> R<Domain> {
    s.parse::<Domain>().ctx(&format!("domain {s:?}"))
}

/// A message of exactly `size` bytes (at least the header), content derived from `tag`.
fn message(tag: &str, size: usize) -> Bytes {
    let mut out =
        format!("Subject: {tag}\r\nMessage-ID: <{tag}@conformance.test>\r\n\r\n").into_bytes();
    let mut i: u64 = tag.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    while out.len() < size {
        if out.len() % 78 == 76 && out.len() + 2 <= size {
            out.extend_from_slice(b"\r\n");
            continue;
        }
        i = i
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        out.push(b'!' + ((i >> 33) % 94) as u8);
    }
    Bytes::from(out)
}

fn small(tag: &str) -> Bytes {
    message(tag, 200)
}

fn flags(system: &str, keywords: &[&str]) -> Flags {
    Flags {
        seen: system.contains('S'),
        answered: system.contains('A'),
        flagged: system.contains('F'),
        deleted: system.contains('D'),
        draft: system.contains('R'),
        keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
    }
}

fn new_message(raw: &Bytes, flags: Flags) -> NewMessage {
    NewMessage {
        raw: raw.clone(),
        flags,
        internal_date: 1_700_000_000,
    }
}

fn new_account(org: OrgId, address: EmailAddress) -> NewAccount {
    NewAccount {
        org,
        address,
        display_name: None,
        password_hash: None,
        quota_bytes: None,
        kind: AccountKind::Member,
    }
}

/// A store with one organisation `Example` owning `example.com`, and the account
/// `tom@example.com` with its default mailboxes.
struct Fx {
    s: Store,
    org: OrgId,
    tom: Account,
}

async fn fixture(s: Store) -> R<Fx> {
    let org = s
        .create_org("Example", Edition::Basic)
        .await
        .ctx("create_org")?;
    s.add_domain(org.id, &dom("example.com")?)
        .await
        .ctx("add_domain")?;
    let tom = s
        .create_account(new_account(org.id, addr("tom@example.com")?))
        .await
        .ctx("create_account tom")?;
    s.ensure_default_mailboxes(tom.id)
        .await
        .ctx("ensure_default_mailboxes")?;
    Ok(Fx {
        s,
        org: org.id,
        tom,
    })
}

impl Fx {
    async fn account(&self, local: &str) -> R<Account> {
        let a = addr(&format!("{local}@example.com"))?;
        let acc = self
            .s
            .create_account(new_account(self.org, a))
            .await
            .ctx("create_account")?;
        self.s
            .ensure_default_mailboxes(acc.id)
            .await
            .ctx("ensure_default_mailboxes")?;
        Ok(acc)
    }

    async fn mbox(&self, account: AccountId, name: &str) -> R<MailboxInfo> {
        self.s
            .mailbox(account, name)
            .await
            .ctx(&format!("mailbox {name:?}"))?
            .found(&format!("mailbox {name:?}"))
    }

    async fn inbox(&self) -> R<MailboxInfo> {
        self.mbox(self.tom.id, INBOX).await
    }

    async fn by_id(&self, id: MailboxId) -> R<MailboxInfo> {
        self.s
            .mailbox_by_id(id)
            .await
            .ctx("mailbox_by_id")?
            .found(&format!("mailbox {id:?}"))
    }

    async fn create(&self, name: &str) -> R<MailboxInfo> {
        self.s
            .create_mailbox(self.tom.id, name, None)
            .await
            .ctx(&format!("create_mailbox {name:?}"))
    }

    async fn put(&self, mailbox: MailboxId, raw: &Bytes, flags: Flags) -> R<Appended> {
        self.s
            .append(mailbox, new_message(raw, flags))
            .await
            .ctx("append")
    }

    async fn all(&self, mailbox: MailboxId) -> R<Vec<crate::mailbox::MessageMeta>> {
        self.s.messages(mailbox, 1..=u32::MAX).await.ctx("messages")
    }

    async fn uids(&self, mailbox: MailboxId) -> R<Vec<Uid>> {
        Ok(self
            .all(mailbox)
            .await?
            .into_iter()
            .map(|m| m.uid)
            .collect())
    }

    async fn read(&self, mailbox: MailboxId, uid: Uid) -> R<Option<Bytes>> {
        self.s.read_message(mailbox, uid).await.ctx("read_message")
    }
}

fn join<T>(r: Result<R<T>, tokio::task::JoinError>) -> R<T> {
    r.map_err(join_failure)?
}

/// A mailbox id no store has handed out.
const NO_MAILBOX: MailboxId = MailboxId(i64::MAX - 7);

// ---------------------------------------------------------------------------------------------
// The cases

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        vec![$((stringify!($name), (|s: Store| Box::pin($name(s)) as CaseFuture) as CaseFn)),*]
    };
}

fn cases() -> Vec<(&'static str, CaseFn)> {
    cases![
        // directory
        org_create_and_lookup,
        domain_add_lookup_and_verify,
        account_create_and_lookup,
        account_domain_must_belong_to_org,
        address_lookup_is_case_insensitive,
        namespace_account_clashes,
        namespace_alias_clashes,
        namespace_group_clashes,
        alias_resolve_and_remove,
        group_crud_and_resolve,
        resolve_unknown_address,
        disabled_account_round_trips,
        account_rename_moves_the_address,
        record_crud_and_versions,
        record_list_by_org,
        update_account_saves_fields,
        delete_account_removes_aliases_and_mailboxes,
        delete_account_releases_blobs,
        remove_domain_refused_while_used,
        // mailboxes
        default_mailboxes_with_roles,
        default_mailboxes_respect_existing_names,
        inbox_is_case_insensitive,
        create_duplicate_mailbox_fails,
        invalid_mailbox_names_refused,
        non_ascii_mailbox_names,
        list_mailboxes_sorted_by_name,
        rename_mailbox_with_children,
        rename_mailbox_clash_is_atomic,
        delete_mailbox_keeps_children,
        subscriptions_round_trip,
        uid_validity_never_reused_for_a_name,
        // messages
        append_read_byte_identical,
        append_large_message,
        append_to_missing_mailbox_fails,
        append_many_is_atomic_and_consecutive,
        uid_next_is_next_uid,
        concurrent_appends_unique_uids,
        modseq_strictly_increases,
        flags_add_remove_replace,
        flags_unchanged_keep_modseq,
        condstore_unchanged_since,
        copy_messages_shares_blob,
        move_messages_leaves_tombstone,
        expunge_only_deleted,
        expunge_uid_subset,
        changes_since_lists_changed_and_expunged,
        messages_range,
        mailbox_counters,
        quota_usage_accounting,
        // blobs
        deliver_stores_one_blob,
        identical_appends_share_blob,
        blob_range_is_clamped,
        garbage_collected_after_last_reference,
        queue_entry_keeps_blob,
        deliver_all_or_nothing,
        change_notifications,
        // queue
        queue_enqueue_list_entry,
        queue_lease_exclusive_concurrent,
        queue_lease_due_and_max,
        queue_lease_expiry,
        queue_update_entry_releases,
        queue_non_owner_conflict,
        queue_remove_entry,
        // logs
        log_append_and_query,
        log_query_filters,
        log_retention_purge,
        // maintenance
        check_healthy_store,
    ]
}

// --- directory ------------------------------------------------------------------------------

async fn org_create_and_lookup(s: Store) -> R {
    let before = crate::now();
    let a = s
        .create_org("Acme", Edition::Professional)
        .await
        .ctx("create_org")?;
    let b = s
        .create_org("Beta GmbH", Edition::Basic)
        .await
        .ctx("create_org")?;
    ensure!(a.id != b.id, "org ids differ");
    ensure_eq!(a.name, "Acme");
    ensure_eq!(a.edition, Edition::Professional);
    ensure!(
        (before - 5..=crate::now() + 5).contains(&a.created),
        "created {} is now",
        a.created
    );
    ensure_eq!(s.org(a.id).await.ctx("org")?, Some(a.clone()));
    ensure_eq!(
        s.org_by_name("Beta GmbH").await.ctx("org_by_name")?,
        Some(b.clone())
    );
    ensure_eq!(s.org_by_name("Nobody").await.ctx("org_by_name")?, None);
    ensure_eq!(s.org(OrgId(i64::MAX - 3)).await.ctx("org")?, None);
    let all = s.list_orgs().await.ctx("list_orgs")?;
    ensure_eq!(all.len(), 2);
    ensure!(all.contains(&a) && all.contains(&b), "list_orgs: {all:?}");
    ensure_err!(
        s.create_org("Acme", Edition::Basic).await,
        StoreError::AlreadyExists(_),
        "duplicate org name"
    );
    s.set_edition(a.id, Edition::Professional)
        .await
        .ctx("set_edition")?;
    ensure_eq!(
        s.org(a.id).await.ctx("org")?.found("org")?.edition,
        Edition::Professional
    );
    ensure_err!(
        s.set_edition(OrgId(i64::MAX - 1), Edition::Basic).await,
        StoreError::NotFound(_),
        "unknown org"
    );
    Ok(())
}

async fn domain_add_lookup_and_verify(s: Store) -> R {
    let a = s.create_org("A", Edition::Basic).await.ctx("create_org")?;
    let b = s.create_org("B", Edition::Basic).await.ctx("create_org")?;
    let d1 = dom("example.com")?;
    let d2 = dom("例子.测试")?;
    let d3 = dom("b.example")?;
    let r1 = s.add_domain(a.id, &d1).await.ctx("add_domain")?;
    ensure_eq!(r1.name, d1);
    ensure_eq!(r1.org, a.id);
    ensure!(!r1.verified, "a new domain is not verified");
    s.add_domain(a.id, &d2).await.ctx("add_domain idn")?;
    s.add_domain(b.id, &d3).await.ctx("add_domain")?;
    ensure_err!(
        s.add_domain(b.id, &d1).await,
        StoreError::AlreadyExists(_),
        "domain of another org"
    );
    ensure_err!(
        s.add_domain(a.id, &dom("EXAMPLE.com")?).await,
        StoreError::AlreadyExists(_),
        "same domain again"
    );
    ensure_eq!(s.domain(&d1).await.ctx("domain")?, Some(r1.clone()));
    let idn = s
        .domain(&dom("xn--fsqu00a.xn--0zwm56d")?)
        .await
        .ctx("domain by A-label")?;
    ensure_eq!(
        idn.map(|d| d.name.as_ascii().to_owned()),
        Some(d2.as_ascii().to_owned())
    );
    ensure_eq!(
        s.domain(&dom("unknown.example")?).await.ctx("domain")?,
        None
    );
    let of_a: BTreeSet<String> = s
        .list_domains(Some(a.id))
        .await
        .ctx("list_domains")?
        .into_iter()
        .map(|d| d.name.as_ascii().to_owned())
        .collect();
    ensure_eq!(
        of_a,
        BTreeSet::from([d1.as_ascii().to_owned(), d2.as_ascii().to_owned()])
    );
    ensure_eq!(s.list_domains(None).await.ctx("list_domains")?.len(), 3);
    s.set_domain_verified(&d1, true)
        .await
        .ctx("set_domain_verified")?;
    ensure!(s.domain(&d1).await.ctx("domain")?.found("d1")?.verified);
    s.set_domain_verified(&d1, false)
        .await
        .ctx("set_domain_verified")?;
    ensure!(!s.domain(&d1).await.ctx("domain")?.found("d1")?.verified);
    Ok(())
}

async fn account_create_and_lookup(s: Store) -> R {
    let org = s
        .create_org("Example", Edition::Basic)
        .await
        .ctx("create_org")?;
    s.add_domain(org.id, &dom("example.com")?)
        .await
        .ctx("add_domain")?;
    let before = crate::now();
    let tom = s
        .create_account(NewAccount {
            org: org.id,
            address: addr("tom@example.com")?,
            display_name: Some("Tom Müller".into()),
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
            quota_bytes: Some(1 << 30),
            kind: AccountKind::Member,
        })
        .await
        .ctx("create_account")?;
    ensure_eq!(tom.org, org.id);
    ensure_eq!(tom.address, addr("tom@example.com")?);
    ensure_eq!(tom.display_name.as_deref(), Some("Tom Müller"));
    ensure_eq!(
        tom.password_hash.as_deref(),
        Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")
    );
    ensure_eq!(tom.quota_bytes, Some(1 << 30));
    ensure_eq!(tom.kind, AccountKind::Member);
    ensure!(tom.enabled, "new accounts are enabled");
    ensure!((before - 5..=crate::now() + 5).contains(&tom.created));
    let shared = s
        .create_account(NewAccount {
            kind: AccountKind::Shared,
            ..new_account(org.id, addr("sales@example.com")?)
        })
        .await
        .ctx("create_account shared")?;
    let ann = s
        .create_account(new_account(org.id, addr("ann@example.com")?))
        .await
        .ctx("create_account ann")?;
    ensure!(
        tom.id != shared.id && tom.id != ann.id && shared.id != ann.id,
        "ids differ"
    );
    ensure_eq!(s.account(tom.id).await.ctx("account")?, Some(tom.clone()));
    ensure_eq!(
        s.account(shared.id).await.ctx("account")?.map(|a| a.kind),
        Some(AccountKind::Shared)
    );
    ensure_eq!(
        s.account(AccountId(i64::MAX - 5)).await.ctx("account")?,
        None
    );
    ensure_eq!(
        s.account_by_address(&addr("tom@example.com")?)
            .await
            .ctx("account_by_address")?,
        Some(tom.clone())
    );
    ensure_eq!(
        s.account_by_address(&addr("nobody@example.com")?)
            .await
            .ctx("account_by_address")?,
        None
    );
    let listed: Vec<String> = s
        .list_accounts(Some(org.id))
        .await
        .ctx("list_accounts")?
        .iter()
        .map(|a| a.address.to_string())
        .collect();
    ensure_eq!(
        listed,
        vec!["ann@example.com", "sales@example.com", "tom@example.com"],
        "ordered by address"
    );
    let other = s
        .create_org("Other", Edition::Basic)
        .await
        .ctx("create_org")?;
    ensure_eq!(
        s.list_accounts(Some(other.id))
            .await
            .ctx("list_accounts")?
            .len(),
        0
    );
    ensure_eq!(s.list_accounts(None).await.ctx("list_accounts")?.len(), 3);
    Ok(())
}

async fn account_rename_moves_the_address(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let tom = fx.tom.clone();
    let other = fx.account("other").await?;
    s.add_alias(&addr("tommy@example.com")?, tom.id)
        .await
        .ctx("add_alias")?;
    let renamed = s
        .rename_account(tom.id, &addr("thomas@example.com")?)
        .await
        .ctx("rename")?;
    ensure_eq!(renamed.address, addr("thomas@example.com")?);
    ensure_eq!(renamed.id, tom.id);
    ensure!(matches!(
        s.resolve(&addr("tom@example.com")?)
            .await
            .ctx("resolve old")?,
        Resolved::Unknown
    ));
    ensure!(matches!(
        s.resolve(&addr("THOMAS@example.com")?).await.ctx("resolve new")?,
        Resolved::Account(a) if a.id == tom.id
    ));
    ensure!(matches!(
        s.resolve(&addr("tommy@example.com")?).await.ctx("alias kept")?,
        Resolved::Alias(a) if a.id == tom.id
    ));
    // The freed address can be taken again; taken ones and foreign domains are refused.
    s.add_alias(&addr("tom@example.com")?, other.id)
        .await
        .ctx("reuse freed address")?;
    ensure_err!(
        s.rename_account(tom.id, &addr("tom@example.com")?).await,
        StoreError::AlreadyExists(_),
        "taken address"
    );
    ensure_err!(
        s.rename_account(tom.id, &addr("tom@elsewhere.test")?).await,
        StoreError::Invalid(_),
        "foreign domain"
    );
    ensure_err!(
        s.rename_account(AccountId(i64::MAX - 3), &addr("x@example.com")?)
            .await,
        StoreError::NotFound(_),
        "unknown account"
    );
    // Renaming to the same address in another case is allowed.
    let same = s
        .rename_account(tom.id, &addr("Thomas@example.com")?)
        .await
        .ctx("rename to itself")?;
    ensure_eq!(same.address.to_string(), "Thomas@example.com");
    Ok(())
}

async fn record_crud_and_versions(s: Store) -> R {
    let v = serde_json::json!({"name": "Sales", "n": 1});
    ensure!(s.get_record("dept", "1").await.ctx("get")?.is_none());
    let v1 = s
        .put_record("dept", "1", None, &v, Expect::Absent)
        .await
        .ctx("create")?;
    ensure_eq!(v1, 1);
    ensure_err!(
        s.put_record("dept", "1", None, &v, Expect::Absent).await,
        StoreError::AlreadyExists(_),
        "create twice"
    );
    let got = s
        .get_record("dept", "1")
        .await
        .ctx("get")?
        .found("record")?;
    ensure_eq!(got.value, v);
    ensure_eq!(got.version, 1);
    let v2 = serde_json::json!({"name": "Sales & Marketing"});
    ensure_eq!(
        s.put_record("dept", "1", None, &v2, Expect::Version(1))
            .await
            .ctx("update")?,
        2
    );
    // A writer that read version 1 loses against the one that already wrote version 2.
    ensure_err!(
        s.put_record("dept", "1", None, &v, Expect::Version(1))
            .await,
        StoreError::Conflict(_),
        "stale update"
    );
    ensure_err!(
        s.put_record("dept", "9", None, &v, Expect::Version(1))
            .await,
        StoreError::Conflict(_),
        "update of a missing record"
    );
    ensure_eq!(
        s.put_record("dept", "1", None, &v, Expect::Any)
            .await
            .ctx("upsert")?,
        3
    );
    ensure_eq!(
        s.put_record("dept", "2", None, &v, Expect::Any)
            .await
            .ctx("upsert new")?,
        1
    );
    // Kinds are separate namespaces.
    ensure!(s.get_record("other", "1").await.ctx("get")?.is_none());
    ensure!(s.delete_record("dept", "1").await.ctx("delete")?);
    ensure!(!s.delete_record("dept", "1").await.ctx("delete again")?);
    ensure!(s.get_record("dept", "1").await.ctx("get")?.is_none());
    Ok(())
}

async fn record_list_by_org(s: Store) -> R {
    let a = s.create_org("A", Edition::Basic).await.ctx("org a")?;
    let b = s.create_org("B", Edition::Basic).await.ctx("org b")?;
    for (key, org) in [("b2", a.id), ("a1", a.id), ("c3", b.id)] {
        s.put_record(
            "dept",
            key,
            Some(org),
            &serde_json::json!(key),
            Expect::Absent,
        )
        .await
        .ctx("put")?;
    }
    s.put_record(
        "other",
        "z",
        Some(a.id),
        &serde_json::json!(1),
        Expect::Absent,
    )
    .await
    .ctx("put other")?;
    let keys = |v: Vec<crate::record::Record>| v.into_iter().map(|r| r.key).collect::<Vec<_>>();
    ensure_eq!(
        keys(s.list_records("dept", Some(a.id)).await.ctx("list a")?),
        vec!["a1", "b2"]
    );
    ensure_eq!(
        keys(s.list_records("dept", None).await.ctx("list all")?),
        vec!["a1", "b2", "c3"]
    );
    Ok(())
}

async fn account_domain_must_belong_to_org(s: Store) -> R {
    let a = s.create_org("A", Edition::Basic).await.ctx("create_org")?;
    let b = s.create_org("B", Edition::Basic).await.ctx("create_org")?;
    s.add_domain(a.id, &dom("a.example")?)
        .await
        .ctx("add_domain")?;
    s.add_domain(b.id, &dom("b.example")?)
        .await
        .ctx("add_domain")?;
    let r = s
        .create_account(new_account(a.id, addr("x@b.example")?))
        .await;
    ensure!(r.is_err(), "account on another org's domain: {r:?}");
    let r = s
        .create_account(new_account(a.id, addr("x@nowhere.example")?))
        .await;
    ensure!(r.is_err(), "account on an unknown domain: {r:?}");
    let r = s
        .create_account(new_account(OrgId(i64::MAX - 1), addr("y@a.example")?))
        .await;
    ensure!(r.is_err(), "account of an unknown org: {r:?}");
    ensure_eq!(s.list_accounts(None).await.ctx("list_accounts")?.len(), 0);
    ensure_eq!(
        s.resolve(&addr("x@b.example")?).await.ctx("resolve")?,
        Resolved::Unknown
    );
    Ok(())
}

async fn address_lookup_is_case_insensitive(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let found = s
        .account_by_address(&addr("Tom@Example.COM")?)
        .await
        .ctx("account_by_address")?;
    ensure_eq!(found.map(|a| a.id), Some(fx.tom.id));
    match s.resolve(&addr("TOM@EXAMPLE.com")?).await.ctx("resolve")? {
        Resolved::Account(a) => ensure_eq!(a.id, fx.tom.id),
        other => return Err(format!("resolve TOM@EXAMPLE.com: {other:?}")),
    }
    // Created in mixed case, found in lower case.
    let ann = s
        .create_account(new_account(fx.org, addr("Ann.Lee@Example.com")?))
        .await
        .ctx("create_account")?;
    let found = s
        .account_by_address(&addr("ann.lee@example.com")?)
        .await
        .ctx("account_by_address")?;
    ensure_eq!(found.map(|a| a.id), Some(ann.id));
    Ok(())
}

async fn namespace_account_clashes(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let jane = fx.account("jane").await?;
    ensure_err!(
        s.create_account(new_account(fx.org, addr("TOM@example.com")?))
            .await,
        StoreError::AlreadyExists(_),
        "second account with the address"
    );
    ensure_err!(
        s.add_alias(&addr("Tom@example.com")?, jane.id).await,
        StoreError::AlreadyExists(_),
        "alias on an account's address"
    );
    let group = Group {
        address: addr("tom@EXAMPLE.com")?,
        org: fx.org,
        name: None,
        members: vec![addr("jane@example.com")?],
        representatives: vec![],
    };
    ensure_err!(
        s.create_group(&group).await,
        StoreError::AlreadyExists(_),
        "group on an account's address"
    );
    ensure_eq!(
        s.aliases(jane.id).await.ctx("aliases")?,
        Vec::<EmailAddress>::new()
    );
    ensure_eq!(s.list_groups(None).await.ctx("list_groups")?.len(), 0);
    ensure_eq!(s.list_accounts(None).await.ctx("list_accounts")?.len(), 2);
    Ok(())
}

async fn namespace_alias_clashes(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let jane = fx.account("jane").await?;
    s.add_alias(&addr("info@example.com")?, fx.tom.id)
        .await
        .ctx("add_alias")?;
    ensure_err!(
        s.create_account(new_account(fx.org, addr("Info@Example.com")?))
            .await,
        StoreError::AlreadyExists(_),
        "account on an alias"
    );
    ensure_err!(
        s.add_alias(&addr("INFO@example.com")?, jane.id).await,
        StoreError::AlreadyExists(_),
        "alias of another account"
    );
    ensure_err!(
        s.add_alias(&addr("info@example.com")?, fx.tom.id).await,
        StoreError::AlreadyExists(_),
        "same alias again"
    );
    let group = Group {
        address: addr("info@example.com")?,
        org: fx.org,
        name: None,
        members: vec![],
        representatives: vec![],
    };
    ensure_err!(
        s.create_group(&group).await,
        StoreError::AlreadyExists(_),
        "group on an alias"
    );
    ensure_eq!(
        s.aliases(jane.id).await.ctx("aliases")?,
        Vec::<EmailAddress>::new()
    );
    ensure_eq!(
        s.aliases(fx.tom.id).await.ctx("aliases")?,
        vec![addr("info@example.com")?]
    );
    Ok(())
}

async fn namespace_group_clashes(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let group = Group {
        address: addr("team@example.com")?,
        org: fx.org,
        name: Some("Team".into()),
        members: vec![addr("tom@example.com")?],
        representatives: vec![],
    };
    s.create_group(&group).await.ctx("create_group")?;
    ensure_err!(
        s.create_account(new_account(fx.org, addr("Team@example.com")?))
            .await,
        StoreError::AlreadyExists(_),
        "account on a group"
    );
    ensure_err!(
        s.add_alias(&addr("TEAM@example.com")?, fx.tom.id).await,
        StoreError::AlreadyExists(_),
        "alias on a group"
    );
    let again = Group {
        address: addr("Team@Example.com")?,
        ..group.clone()
    };
    ensure_err!(
        s.create_group(&again).await,
        StoreError::AlreadyExists(_),
        "group twice"
    );
    ensure_eq!(s.list_groups(None).await.ctx("list_groups")?.len(), 1);
    Ok(())
}

async fn alias_resolve_and_remove(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    s.add_alias(&addr("thomas@example.com")?, fx.tom.id)
        .await
        .ctx("add_alias")?;
    s.add_alias(&addr("info@example.com")?, fx.tom.id)
        .await
        .ctx("add_alias")?;
    ensure_eq!(
        s.aliases(fx.tom.id).await.ctx("aliases")?,
        vec![addr("info@example.com")?, addr("thomas@example.com")?],
        "ordered"
    );
    match s
        .resolve(&addr("Thomas@EXAMPLE.com")?)
        .await
        .ctx("resolve")?
    {
        Resolved::Alias(a) => ensure_eq!(a.id, fx.tom.id),
        other => return Err(format!("resolve alias: {other:?}")),
    }
    // The alias is not a primary address.
    ensure_eq!(
        s.account_by_address(&addr("thomas@example.com")?)
            .await
            .ctx("account_by_address")?,
        None
    );
    s.remove_alias(&addr("thomas@example.com")?)
        .await
        .ctx("remove_alias")?;
    ensure_eq!(
        s.resolve(&addr("thomas@example.com")?)
            .await
            .ctx("resolve")?,
        Resolved::Unknown
    );
    ensure_eq!(
        s.aliases(fx.tom.id).await.ctx("aliases")?,
        vec![addr("info@example.com")?]
    );
    // An alias must be on one of the organisation's domains.
    let other = s
        .create_org("Other", Edition::Basic)
        .await
        .ctx("create_org")?;
    s.add_domain(other.id, &dom("other.example")?)
        .await
        .ctx("add_domain")?;
    let r = s.add_alias(&addr("tom@other.example")?, fx.tom.id).await;
    ensure!(r.is_err(), "alias on another org's domain: {r:?}");
    let r = s
        .add_alias(&addr("x@example.com")?, AccountId(i64::MAX - 5))
        .await;
    ensure!(r.is_err(), "alias of an unknown account: {r:?}");
    ensure_eq!(
        s.resolve(&addr("x@example.com")?).await.ctx("resolve")?,
        Resolved::Unknown
    );
    // Freed addresses can be reused.
    s.add_alias(&addr("thomas@example.com")?, fx.tom.id)
        .await
        .ctx("add_alias again")?;
    Ok(())
}

async fn group_crud_and_resolve(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    fx.account("jane").await?;
    let mut group = Group {
        address: addr("team@example.com")?,
        org: fx.org,
        name: Some("Das Team".into()),
        members: vec![
            addr("jane@example.com")?,
            addr("partner@remote.example")?,
            addr("tom@example.com")?,
        ],
        representatives: vec![addr("tom@example.com")?],
    };
    s.create_group(&group).await.ctx("create_group")?;
    let sorted = |g: &Group| {
        let mut g = g.clone();
        g.members.sort();
        g.representatives.sort();
        g
    };
    let got = s
        .group(&addr("Team@example.com")?)
        .await
        .ctx("group")?
        .found("group")?;
    ensure_eq!(sorted(&got), sorted(&group));
    match s.resolve(&addr("TEAM@example.com")?).await.ctx("resolve")? {
        Resolved::Group(g) => ensure_eq!(sorted(&g), sorted(&group)),
        other => return Err(format!("resolve group: {other:?}")),
    }
    group.name = None;
    group.members = vec![addr("jane@example.com")?];
    group.representatives = vec![];
    s.update_group(&group).await.ctx("update_group")?;
    let got = s.group(&group.address).await.ctx("group")?.found("group")?;
    ensure_eq!(sorted(&got), sorted(&group));
    let second = Group {
        address: addr("all@example.com")?,
        org: fx.org,
        name: None,
        members: vec![addr("team@example.com")?],
        representatives: vec![],
    };
    s.create_group(&second).await.ctx("create_group")?;
    let listed: Vec<String> = s
        .list_groups(Some(fx.org))
        .await
        .ctx("list_groups")?
        .iter()
        .map(|g| g.address.to_string())
        .collect();
    ensure_eq!(
        listed,
        vec!["all@example.com", "team@example.com"],
        "ordered by address"
    );
    s.delete_group(&group.address).await.ctx("delete_group")?;
    ensure_eq!(s.group(&group.address).await.ctx("group")?, None);
    ensure_eq!(
        s.resolve(&group.address).await.ctx("resolve")?,
        Resolved::Unknown
    );
    ensure_eq!(s.list_groups(None).await.ctx("list_groups")?.len(), 1);
    Ok(())
}

async fn resolve_unknown_address(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    ensure_eq!(
        s.resolve(&addr("nobody@example.com")?)
            .await
            .ctx("resolve")?,
        Resolved::Unknown
    );
    ensure_eq!(
        s.resolve(&addr("tom@unknown.example")?)
            .await
            .ctx("resolve")?,
        Resolved::Unknown
    );
    ensure_eq!(
        s.resolve(&addr("tom.x@example.com")?)
            .await
            .ctx("resolve")?,
        Resolved::Unknown
    );
    Ok(())
}

async fn disabled_account_round_trips(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    s.add_alias(&addr("thomas@example.com")?, fx.tom.id)
        .await
        .ctx("add_alias")?;
    let mut tom = fx.tom.clone();
    tom.enabled = false;
    s.update_account(&tom).await.ctx("update_account")?;
    ensure_eq!(s.account(tom.id).await.ctx("account")?, Some(tom.clone()));
    ensure_eq!(
        s.account_by_address(&tom.address)
            .await
            .ctx("account_by_address")?
            .map(|a| a.enabled),
        Some(false)
    );
    match s.resolve(&tom.address).await.ctx("resolve")? {
        Resolved::Account(a) => ensure!(!a.enabled, "resolved account is disabled"),
        other => return Err(format!("resolve disabled account: {other:?}")),
    }
    match s
        .resolve(&addr("thomas@example.com")?)
        .await
        .ctx("resolve")?
    {
        Resolved::Alias(a) => ensure!(!a.enabled, "resolved alias target is disabled"),
        other => return Err(format!("resolve alias of disabled account: {other:?}")),
    }
    tom.enabled = true;
    s.update_account(&tom).await.ctx("update_account")?;
    ensure_eq!(
        s.account(tom.id).await.ctx("account")?.map(|a| a.enabled),
        Some(true)
    );
    Ok(())
}

async fn update_account_saves_fields(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let mut tom = fx.tom.clone();
    tom.display_name = Some("Tom «The Cat» 汤姆".into());
    tom.password_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3aGFzaA".into());
    tom.quota_bytes = Some(5_000_000);
    s.update_account(&tom).await.ctx("update_account")?;
    ensure_eq!(s.account(tom.id).await.ctx("account")?, Some(tom.clone()));
    tom.display_name = None;
    tom.password_hash = None;
    tom.quota_bytes = None;
    s.update_account(&tom).await.ctx("update_account")?;
    ensure_eq!(s.account(tom.id).await.ctx("account")?, Some(tom.clone()));
    // Only the listed fields are saved: the address stays.
    let mut renamed = tom.clone();
    renamed.address = addr("other@example.com")?;
    let r = s.update_account(&renamed).await;
    let now = s.account(tom.id).await.ctx("account")?.found("tom")?;
    ensure_eq!(
        now.address,
        tom.address,
        "update_account must not change the address ({r:?})"
    );
    ensure_eq!(
        s.resolve(&addr("other@example.com")?)
            .await
            .ctx("resolve")?,
        Resolved::Unknown
    );
    let ghost = Account {
        id: AccountId(i64::MAX - 5),
        ..tom.clone()
    };
    let r = s.update_account(&ghost).await;
    ensure!(r.is_err(), "update_account of an unknown id: {r:?}");
    Ok(())
}

async fn delete_account_removes_aliases_and_mailboxes(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let jane = fx.account("jane").await?;
    s.add_alias(&addr("thomas@example.com")?, fx.tom.id)
        .await
        .ctx("add_alias")?;
    let work = fx.create("Work/项目").await?;
    fx.put(work.id, &small("a"), Flags::default()).await?;
    let inbox = fx.inbox().await?;
    fx.put(inbox.id, &small("b"), Flags::default()).await?;
    s.delete_account(fx.tom.id).await.ctx("delete_account")?;
    ensure_eq!(s.account(fx.tom.id).await.ctx("account")?, None);
    ensure_eq!(
        s.account_by_address(&fx.tom.address)
            .await
            .ctx("account_by_address")?,
        None
    );
    ensure_eq!(
        s.resolve(&fx.tom.address).await.ctx("resolve")?,
        Resolved::Unknown
    );
    ensure_eq!(
        s.resolve(&addr("thomas@example.com")?)
            .await
            .ctx("resolve")?,
        Resolved::Unknown
    );
    ensure!(
        s.list_mailboxes(fx.tom.id)
            .await
            .ctx("list_mailboxes")?
            .is_empty(),
        "no mailboxes left"
    );
    ensure_eq!(s.mailbox_by_id(work.id).await.ctx("mailbox_by_id")?, None);
    ensure_eq!(s.mailbox_by_id(inbox.id).await.ctx("mailbox_by_id")?, None);
    ensure_eq!(
        s.quota_usage(fx.tom.id).await.ctx("quota_usage")?,
        QuotaUsage::default()
    );
    // Others are untouched.
    ensure_eq!(
        s.list_mailboxes(jane.id).await.ctx("list_mailboxes")?.len(),
        6
    );
    // The addresses are free again.
    let tom2 = s
        .create_account(new_account(fx.org, addr("tom@example.com")?))
        .await
        .ctx("re-create tom")?;
    ensure!(tom2.id != fx.tom.id, "account ids are not reused");
    s.add_alias(&addr("thomas@example.com")?, jane.id)
        .await
        .ctx("reuse alias")?;
    ensure!(
        s.list_mailboxes(tom2.id)
            .await
            .ctx("list_mailboxes")?
            .is_empty(),
        "a new account starts empty"
    );
    Ok(())
}

async fn delete_account_releases_blobs(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let jane = fx.account("jane").await?;
    let raw_own = message("only-tom", 3000);
    let raw_shared = message("both", 3000);
    fx.put(fx.inbox().await?.id, &raw_own, Flags::default())
        .await?;
    let tom_in = fx.inbox().await?;
    let jane_in = fx.mbox(jane.id, INBOX).await?;
    s.deliver(
        raw_shared.clone(),
        1_700_000_000,
        &[
            DeliveryTarget {
                mailbox: tom_in.id,
                flags: Flags::default(),
            },
            DeliveryTarget {
                mailbox: jane_in.id,
                flags: Flags::default(),
            },
        ],
    )
    .await
    .ctx("deliver")?;
    s.delete_account(fx.tom.id).await.ctx("delete_account")?;
    s.collect_garbage().await.ctx("collect_garbage")?;
    ensure_eq!(
        s.get_blob(&BlobId::of(&raw_own)).await.ctx("get_blob")?,
        None,
        "tom's own blob is collected"
    );
    ensure_eq!(
        s.get_blob(&BlobId::of(&raw_shared)).await.ctx("get_blob")?,
        Some(raw_shared.clone()),
        "jane still references the shared blob"
    );
    ensure_eq!(fx.all(jane_in.id).await?.len(), 1);
    Ok(())
}

async fn remove_domain_refused_while_used(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let d_acc = dom("example.com")?;
    let d_alias = dom("alias.example")?;
    let d_group = dom("group.example")?;
    let d_free = dom("free.example")?;
    for d in [&d_alias, &d_group, &d_free] {
        s.add_domain(fx.org, d).await.ctx("add_domain")?;
    }
    s.add_alias(&addr("tom@alias.example")?, fx.tom.id)
        .await
        .ctx("add_alias")?;
    let g = Group {
        address: addr("all@group.example")?,
        org: fx.org,
        name: None,
        members: vec![],
        representatives: vec![],
    };
    s.create_group(&g).await.ctx("create_group")?;
    ensure!(
        s.remove_domain(&d_acc).await.is_err(),
        "domain used by an account"
    );
    ensure!(
        s.remove_domain(&d_alias).await.is_err(),
        "domain used by an alias"
    );
    ensure!(
        s.remove_domain(&d_group).await.is_err(),
        "domain used by a group"
    );
    for d in [&d_acc, &d_alias, &d_group] {
        ensure!(
            s.domain(d).await.ctx("domain")?.is_some(),
            "{d} still there"
        );
    }
    s.remove_domain(&d_free).await.ctx("remove unused domain")?;
    ensure_eq!(s.domain(&d_free).await.ctx("domain")?, None);
    s.remove_alias(&addr("tom@alias.example")?)
        .await
        .ctx("remove_alias")?;
    s.remove_domain(&d_alias)
        .await
        .ctx("remove domain after its alias")?;
    s.delete_group(&g.address).await.ctx("delete_group")?;
    s.remove_domain(&d_group)
        .await
        .ctx("remove domain after its group")?;
    s.delete_account(fx.tom.id).await.ctx("delete_account")?;
    s.remove_domain(&d_acc)
        .await
        .ctx("remove domain after its account")?;
    ensure!(
        s.list_domains(None).await.ctx("list_domains")?.is_empty(),
        "all domains removed"
    );
    Ok(())
}

// --- mailboxes ------------------------------------------------------------------------------

async fn default_mailboxes_with_roles(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let list = s.list_mailboxes(fx.tom.id).await.ctx("list_mailboxes")?;
    let got: BTreeMap<String, Option<SpecialUse>> =
        list.iter().map(|m| (m.name.clone(), m.role)).collect();
    let mut want: BTreeMap<String, Option<SpecialUse>> = BTreeMap::from([(INBOX.to_owned(), None)]);
    for (role, name) in SpecialUse::DEFAULTS {
        want.insert(name.to_owned(), Some(role));
    }
    ensure_eq!(got, want);
    for m in &list {
        ensure_eq!(m.account, fx.tom.id);
        ensure_eq!(m.messages, 0);
        ensure_eq!(m.unseen, 0);
        ensure_eq!(m.size, 0);
    }
    let ids: HashSet<MailboxId> = list.iter().map(|m| m.id).collect();
    ensure_eq!(ids.len(), 6, "distinct ids");
    s.ensure_default_mailboxes(fx.tom.id)
        .await
        .ctx("ensure_default_mailboxes again")?;
    ensure_eq!(
        s.list_mailboxes(fx.tom.id).await.ctx("list_mailboxes")?,
        list,
        "idempotent"
    );
    let custom = s
        .create_mailbox(fx.tom.id, "Old Sent", Some(SpecialUse::Sent))
        .await
        .ctx("create_mailbox with role");
    if let Ok(m) = custom {
        ensure_eq!(m.role, Some(SpecialUse::Sent));
    }
    Ok(())
}

async fn default_mailboxes_respect_existing_names(s: Store) -> R {
    let org = s
        .create_org("Example", Edition::Basic)
        .await
        .ctx("create_org")?;
    s.add_domain(org.id, &dom("example.com")?)
        .await
        .ctx("add_domain")?;
    let acc = s
        .create_account(new_account(org.id, addr("tom@example.com")?))
        .await
        .ctx("create_account")?;
    ensure!(
        s.list_mailboxes(acc.id)
            .await
            .ctx("list_mailboxes")?
            .is_empty(),
        "a new account has none"
    );
    s.create_mailbox(acc.id, "inbox", None)
        .await
        .ctx("create inbox")?;
    s.create_mailbox(acc.id, "Gesendet", Some(SpecialUse::Sent))
        .await
        .ctx("create Sent with role")?;
    s.create_mailbox(acc.id, "Trash", None)
        .await
        .ctx("create Trash without role")?;
    s.ensure_default_mailboxes(acc.id)
        .await
        .ctx("ensure_default_mailboxes")?;
    let names: Vec<String> = s
        .list_mailboxes(acc.id)
        .await
        .ctx("list_mailboxes")?
        .into_iter()
        .map(|m| m.name)
        .collect();
    ensure_eq!(
        names,
        vec!["Archive", "Drafts", "Gesendet", "INBOX", "Junk", "Trash"]
    );
    Ok(())
}

async fn inbox_is_case_insensitive(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let inbox = fx.inbox().await?;
    ensure_eq!(inbox.name, INBOX);
    for name in ["inbox", "InBoX", "INBOX"] {
        ensure_eq!(fx.mbox(fx.tom.id, name).await?.id, inbox.id, "{name}");
    }
    ensure_err!(
        s.create_mailbox(fx.tom.id, "Inbox", None).await,
        StoreError::AlreadyExists(_),
        "create Inbox"
    );
    let sub = fx.create("inbox/Sub").await?;
    ensure_eq!(sub.name, "INBOX/Sub");
    ensure_eq!(fx.mbox(fx.tom.id, "Inbox/Sub").await?.id, sub.id);
    ensure!(
        s.delete_mailbox(fx.tom.id, "inbox").await.is_err(),
        "INBOX cannot be deleted"
    );
    ensure!(
        s.rename_mailbox(fx.tom.id, "Inbox", "Old").await.is_err(),
        "INBOX cannot be renamed"
    );
    ensure_eq!(fx.inbox().await?.id, inbox.id);
    // Only the first level is special.
    let a = fx.create("Work/inbox").await?;
    ensure_eq!(a.name, "Work/inbox");
    let b = fx.create("Work/INBOX").await?;
    ensure!(
        a.id != b.id,
        "Work/inbox and Work/INBOX are different mailboxes"
    );
    Ok(())
}

async fn create_duplicate_mailbox_fails(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let jane = fx.account("jane").await?;
    let m = fx.create("Projects").await?;
    ensure_eq!(m.name, "Projects");
    ensure_eq!(m.account, fx.tom.id);
    ensure_err!(
        s.create_mailbox(fx.tom.id, "Projects", None).await,
        StoreError::AlreadyExists(_),
        "duplicate mailbox"
    );
    ensure_err!(
        s.create_mailbox(fx.tom.id, "Sent", None).await,
        StoreError::AlreadyExists(_),
        "duplicate default mailbox"
    );
    // Other names are case-sensitive; another account has its own namespace.
    let lower = fx.create("projects").await?;
    ensure!(lower.id != m.id);
    let other = s
        .create_mailbox(jane.id, "Projects", None)
        .await
        .ctx("same name, other account")?;
    ensure!(other.id != m.id);
    let r = s.create_mailbox(AccountId(i64::MAX - 5), "X", None).await;
    ensure!(r.is_err(), "mailbox of an unknown account: {r:?}");
    Ok(())
}

async fn invalid_mailbox_names_refused(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let before = s.list_mailboxes(fx.tom.id).await.ctx("list_mailboxes")?;
    let long = "x".repeat(MAX_MAILBOX_NAME + 1);
    for name in [
        "",
        "a//b",
        "/a",
        "a/",
        "/",
        "a\0b",
        "a\r\nb",
        "tab\there",
        "\u{7f}",
        long.as_str(),
    ] {
        ensure_err!(
            s.create_mailbox(fx.tom.id, name, None).await,
            StoreError::Invalid(_),
            "create {:?}",
            name.chars().take(20).collect::<String>()
        );
    }
    fx.create("Valid").await?;
    ensure_err!(
        s.rename_mailbox(fx.tom.id, "Valid", "bad//name").await,
        StoreError::Invalid(_),
        "rename to an invalid name"
    );
    ensure!(
        s.mailbox(fx.tom.id, "Valid")
            .await
            .ctx("mailbox")?
            .is_some(),
        "Valid stays"
    );
    // The longest allowed name works, in bytes (ü is two).
    let max = format!("{}{}", "ü".repeat(MAX_MAILBOX_NAME / 2 - 1), "ab");
    ensure_eq!(max.len(), MAX_MAILBOX_NAME);
    let m = fx.create(&max).await?;
    ensure_eq!(m.name, max);
    ensure_eq!(fx.mbox(fx.tom.id, &max).await?.id, m.id);
    ensure_eq!(
        s.list_mailboxes(fx.tom.id)
            .await
            .ctx("list_mailboxes")?
            .len(),
        before.len() + 2
    );
    Ok(())
}

async fn non_ascii_mailbox_names(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let cn = fx.create("项目/二〇二四").await?;
    let de = fx.create("Entwürfe").await?;
    let emoji = fx.create("📬 Post/Ünïcødé").await?;
    ensure_eq!(cn.name, "项目/二〇二四");
    ensure_eq!(de.name, "Entwürfe");
    ensure_eq!(fx.mbox(fx.tom.id, "项目/二〇二四").await?.id, cn.id);
    ensure_eq!(fx.mbox(fx.tom.id, "Entwürfe").await?.id, de.id);
    ensure_eq!(fx.mbox(fx.tom.id, "📬 Post/Ünïcødé").await?.id, emoji.id);
    ensure_eq!(
        s.mailbox(fx.tom.id, "项目").await.ctx("mailbox")?,
        None,
        "parents need not exist"
    );
    ensure_eq!(
        s.mailbox(fx.tom.id, "ENTWÜRFE").await.ctx("mailbox")?,
        None,
        "not INBOX: case-sensitive"
    );
    let names: BTreeSet<String> = s
        .list_mailboxes(fx.tom.id)
        .await
        .ctx("list_mailboxes")?
        .into_iter()
        .map(|m| m.name)
        .collect();
    ensure!(
        names.contains("项目/二〇二四") && names.contains("Entwürfe"),
        "{names:?}"
    );
    let raw = small("non-ascii");
    let a = fx.put(cn.id, &raw, Flags::default()).await?;
    ensure_eq!(fx.read(cn.id, a.uid).await?, Some(raw.clone()));
    s.rename_mailbox(fx.tom.id, "项目/二〇二四", "Проекты/2024")
        .await
        .ctx("rename non-ASCII")?;
    let moved = fx.mbox(fx.tom.id, "Проекты/2024").await?;
    ensure_eq!(moved.id, cn.id);
    ensure_eq!(fx.read(cn.id, a.uid).await?, Some(raw));
    ensure_eq!(
        s.mailbox(fx.tom.id, "项目/二〇二四").await.ctx("mailbox")?,
        None
    );
    s.delete_mailbox(fx.tom.id, "Entwürfe")
        .await
        .ctx("delete non-ASCII")?;
    ensure_eq!(s.mailbox(fx.tom.id, "Entwürfe").await.ctx("mailbox")?, None);
    Ok(())
}

async fn list_mailboxes_sorted_by_name(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    for n in [
        "b", "Zeta", "a", "Ärger", "Work/z", "Work", "Work/A", "work", "项目", "Éclair", "_x", "1",
    ] {
        fx.create(n).await?;
    }
    let names: Vec<String> = s
        .list_mailboxes(fx.tom.id)
        .await
        .ctx("list_mailboxes")?
        .into_iter()
        .map(|m| m.name)
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    ensure_eq!(names, sorted, "sorted by name (byte order)");
    ensure_eq!(names.len(), 18);
    Ok(())
}

async fn rename_mailbox_with_children(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let work = fx.create("Work").await?;
    let a = fx.create("Work/A").await?;
    let deep = fx.create("Work/A/Deep").await?;
    let shop = fx.create("Workshop").await?;
    let shop_child = fx.create("Workshop/B").await?;
    let raw1 = small("w1");
    let raw2 = small("w2");
    let raw3 = small("a1");
    let u1 = fx.put(work.id, &raw1, flags("S", &["$Work"])).await?;
    let u2 = fx.put(work.id, &raw2, Flags::default()).await?;
    let u3 = fx.put(a.id, &raw3, Flags::default()).await?;
    let work_before = fx.by_id(work.id).await?;
    let a_before = fx.by_id(a.id).await?;
    s.rename_mailbox(fx.tom.id, "Work", "Projects/2024")
        .await
        .ctx("rename")?;
    for (old, new, id) in [
        ("Work", "Projects/2024", work.id),
        ("Work/A", "Projects/2024/A", a.id),
        ("Work/A/Deep", "Projects/2024/A/Deep", deep.id),
    ] {
        ensure_eq!(
            s.mailbox(fx.tom.id, old).await.ctx("mailbox")?,
            None,
            "{old} is gone"
        );
        let m = fx.mbox(fx.tom.id, new).await?;
        ensure_eq!(m.id, id, "{new} keeps its id");
        ensure_eq!(fx.by_id(id).await?.name, new);
    }
    let w = fx.by_id(work.id).await?;
    ensure_eq!(w.uid_validity, work_before.uid_validity);
    ensure_eq!(w.uid_next, work_before.uid_next);
    ensure_eq!(w.messages, 2);
    ensure_eq!(w.unseen, 1);
    ensure_eq!(w.size, work_before.size);
    ensure!(w.highest_modseq >= work_before.highest_modseq);
    let an = fx.by_id(a.id).await?;
    ensure_eq!(an.uid_validity, a_before.uid_validity);
    ensure_eq!(an.uid_next, a_before.uid_next);
    ensure_eq!(fx.read(work.id, u1.uid).await?, Some(raw1));
    ensure_eq!(fx.read(work.id, u2.uid).await?, Some(raw2));
    ensure_eq!(fx.read(a.id, u3.uid).await?, Some(raw3));
    let metas = fx.all(work.id).await?;
    ensure_eq!(
        metas.first().map(|m| m.flags.clone()),
        Some(flags("S", &["$Work"]))
    );
    // A sibling sharing the prefix is not a child.
    ensure_eq!(fx.mbox(fx.tom.id, "Workshop").await?.id, shop.id);
    ensure_eq!(fx.mbox(fx.tom.id, "Workshop/B").await?.id, shop_child.id);
    // The mailbox keeps working under its new name.
    let u4 = fx.put(work.id, &small("w4"), Flags::default()).await?;
    ensure!(u4.uid > u2.uid);
    ensure_eq!(u4.uid_validity, work_before.uid_validity);
    // Renaming onto an existing name or from a missing one fails.
    ensure_err!(
        s.rename_mailbox(fx.tom.id, "Workshop", "Projects/2024")
            .await,
        StoreError::AlreadyExists(_),
        "rename onto an existing mailbox"
    );
    ensure!(
        s.rename_mailbox(fx.tom.id, "NoSuch", "Other")
            .await
            .is_err(),
        "rename a missing mailbox"
    );
    // Renaming a child alone leaves the parent.
    s.rename_mailbox(fx.tom.id, "Projects/2024/A", "A-top")
        .await
        .ctx("rename child")?;
    ensure_eq!(fx.mbox(fx.tom.id, "A-top").await?.id, a.id);
    ensure_eq!(fx.mbox(fx.tom.id, "A-top/Deep").await?.id, deep.id);
    ensure_eq!(fx.mbox(fx.tom.id, "Projects/2024").await?.id, work.id);
    Ok(())
}

async fn rename_mailbox_clash_is_atomic(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let a = fx.create("A").await?;
    let ax = fx.create("A/x").await?;
    let bx = fx.create("B/x").await?;
    let r = s.rename_mailbox(fx.tom.id, "A", "B").await;
    let names: Vec<String> = s
        .list_mailboxes(fx.tom.id)
        .await
        .ctx("list_mailboxes")?
        .into_iter()
        .map(|m| m.name)
        .collect();
    ensure!(
        r.is_err(),
        "renaming A to B clashes with B/x; got {r:?}, mailboxes {names:?}"
    );
    ensure_eq!(fx.mbox(fx.tom.id, "A").await?.id, a.id, "nothing renamed");
    ensure_eq!(
        fx.mbox(fx.tom.id, "A/x").await?.id,
        ax.id,
        "nothing renamed"
    );
    ensure_eq!(
        fx.mbox(fx.tom.id, "B/x").await?.id,
        bx.id,
        "nothing renamed"
    );
    ensure_eq!(s.mailbox(fx.tom.id, "B").await.ctx("mailbox")?, None);
    Ok(())
}

async fn delete_mailbox_keeps_children(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let parent = fx.create("Parent").await?;
    let child = fx.create("Parent/Child").await?;
    let raw_p = message("parent-msg", 1000);
    let raw_c = message("child-msg", 500);
    let up = fx.put(parent.id, &raw_p, Flags::default()).await?;
    let uc = fx.put(child.id, &raw_c, Flags::default()).await?;
    ensure_eq!(s.quota_usage(fx.tom.id).await.ctx("quota")?.bytes, 1500);
    s.delete_mailbox(fx.tom.id, "Parent")
        .await
        .ctx("delete_mailbox")?;
    ensure_eq!(s.mailbox(fx.tom.id, "Parent").await.ctx("mailbox")?, None);
    ensure_eq!(s.mailbox_by_id(parent.id).await.ctx("mailbox_by_id")?, None);
    ensure_eq!(
        fx.mbox(fx.tom.id, "Parent/Child").await?.id,
        child.id,
        "children stay"
    );
    ensure_eq!(fx.read(child.id, uc.uid).await?, Some(raw_c));
    let gone = s.read_message(parent.id, up.uid).await;
    ensure!(
        matches!(gone, Ok(None) | Err(_)),
        "message of a deleted mailbox: {gone:?}"
    );
    ensure_eq!(
        s.quota_usage(fx.tom.id).await.ctx("quota")?,
        QuotaUsage {
            bytes: 500,
            messages: 1
        }
    );
    ensure!(
        s.append(parent.id, new_message(&raw_p, Flags::default()))
            .await
            .is_err(),
        "append to a deleted mailbox"
    );
    ensure!(
        s.delete_mailbox(fx.tom.id, "Parent").await.is_err(),
        "delete twice"
    );
    ensure!(
        s.delete_mailbox(fx.tom.id, "Nope").await.is_err(),
        "delete a missing mailbox"
    );
    s.collect_garbage().await.ctx("collect_garbage")?;
    ensure_eq!(s.get_blob(&BlobId::of(&raw_p)).await.ctx("get_blob")?, None);
    // Re-created, it is a new mailbox.
    let again = fx.create("Parent").await?;
    ensure!(again.id != parent.id, "mailbox ids are never reused");
    ensure_eq!(again.messages, 0);
    Ok(())
}

async fn subscriptions_round_trip(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    fx.create("News").await?;
    s.set_subscribed(fx.tom.id, "News", true)
        .await
        .ctx("subscribe")?;
    ensure!(fx.mbox(fx.tom.id, "News").await?.subscribed);
    s.set_subscribed(fx.tom.id, "News", true)
        .await
        .ctx("subscribe twice")?;
    ensure!(fx.mbox(fx.tom.id, "News").await?.subscribed);
    s.set_subscribed(fx.tom.id, "inbox", true)
        .await
        .ctx("subscribe inbox")?;
    ensure!(fx.inbox().await?.subscribed);
    s.set_subscribed(fx.tom.id, "News", false)
        .await
        .ctx("unsubscribe")?;
    ensure!(!fx.mbox(fx.tom.id, "News").await?.subscribed);
    let listed = s.list_mailboxes(fx.tom.id).await.ctx("list_mailboxes")?;
    ensure!(listed.iter().any(|m| m.name == INBOX && m.subscribed));
    ensure!(listed.iter().any(|m| m.name == "News" && !m.subscribed));
    s.set_subscribed(fx.tom.id, "News", true)
        .await
        .ctx("subscribe")?;
    s.rename_mailbox(fx.tom.id, "News", "Nachrichten")
        .await
        .ctx("rename")?;
    ensure!(
        fx.mbox(fx.tom.id, "Nachrichten").await?.subscribed,
        "subscription kept by rename"
    );
    Ok(())
}

async fn uid_validity_never_reused_for_a_name(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let first = fx.create("Box").await?;
    fx.put(first.id, &small("x"), Flags::default()).await?;
    s.delete_mailbox(fx.tom.id, "Box").await.ctx("delete")?;
    let second = fx.create("Box").await?;
    ensure!(second.id != first.id, "new id");
    ensure!(
        second.uid_validity != first.uid_validity,
        "re-created mailbox has UIDVALIDITY {} like the deleted one",
        first.uid_validity
    );
    s.rename_mailbox(fx.tom.id, "Box", "Box2")
        .await
        .ctx("rename")?;
    let third = fx.create("Box").await?;
    ensure!(
        third.uid_validity != first.uid_validity && third.uid_validity != second.uid_validity,
        "UIDVALIDITY {} of a third Box was used before ({} / {})",
        third.uid_validity,
        first.uid_validity,
        second.uid_validity
    );
    ensure!(first.uid_validity != 0 && second.uid_validity != 0 && third.uid_validity != 0);
    ensure_eq!(
        fx.mbox(fx.tom.id, "Box2").await?.uid_validity,
        second.uid_validity
    );
    Ok(())
}

// --- messages -------------------------------------------------------------------------------

async fn append_read_byte_identical(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let inbox = fx.inbox().await?;
    let mut binary: Vec<u8> = b"Subject: bin\r\n\r\n".to_vec();
    binary.extend((0..=255u8).cycle().take(4096));
    let samples: Vec<Bytes> = vec![
        Bytes::from_static(b"Subject: hi\r\n\r\nhello\r\n"),
        Bytes::from_static(b"Subject: bare lf\n\nno crlf\n.\n..\n"),
        Bytes::from(
            "Subject: =?UTF-8?B?w6TDtsO8?=\r\n\r\nÄÖÜ 中文 \u{0}\r\n"
                .as_bytes()
                .to_vec(),
        ),
        Bytes::from(binary),
        Bytes::from_static(b"x"),
        message("medium", 70_000),
    ];
    let mut done = Vec::new();
    for (i, raw) in samples.iter().enumerate() {
        let f = if i % 2 == 0 {
            flags("S", &["$Forwarded"])
        } else {
            Flags::default()
        };
        let msg = NewMessage {
            raw: raw.clone(),
            flags: f.clone(),
            internal_date: 1_600_000_000 + i as i64,
        };
        let a = s.append(inbox.id, msg).await.ctx("append")?;
        ensure_eq!(a.mailbox, inbox.id);
        ensure_eq!(a.uid_validity, inbox.uid_validity);
        ensure!(a.uid.0 >= 1, "UIDs start at 1");
        done.push((a, f));
    }
    let metas = fx.all(inbox.id).await?;
    ensure_eq!(metas.len(), samples.len());
    for (i, (raw, (a, f))) in samples.iter().zip(&done).enumerate() {
        ensure_eq!(
            fx.read(inbox.id, a.uid).await?,
            Some(raw.clone()),
            "message {i}"
        );
        let meta = metas.iter().find(|m| m.uid == a.uid).found("meta")?;
        ensure_eq!(meta.size, raw.len() as u64, "size of {i}");
        ensure_eq!(meta.blob, BlobId::of(raw), "blob of {i}");
        ensure_eq!(&meta.flags, f, "flags of {i}");
        ensure_eq!(
            meta.internal_date,
            1_600_000_000 + i as i64,
            "internal date of {i}"
        );
        ensure_eq!(meta.modseq, a.modseq, "modseq of {i}");
        ensure_eq!(
            s.get_blob(&meta.blob).await.ctx("get_blob")?,
            Some(raw.clone())
        );
    }
    ensure_eq!(fx.read(inbox.id, Uid(999_999)).await?, None, "missing UID");
    Ok(())
}

async fn append_large_message(s: Store) -> R {
    let fx = fixture(s).await?;
    let inbox = fx.inbox().await?;
    let raw = message("large", 12 * 1024 * 1024 + 17);
    let a = fx.put(inbox.id, &raw, Flags::default()).await?;
    let back = fx.read(inbox.id, a.uid).await?.found("large message")?;
    ensure!(
        back == raw,
        "12 MiB message read back differently ({} bytes)",
        back.len()
    );
    let part =
        fx.s.get_blob_range(&BlobId::of(&raw), 10_000_000..10_000_100)
            .await
            .ctx("get_blob_range")?
            .found("blob")?;
    ensure!(
        part[..] == raw[10_000_000..10_000_100],
        "range of a large blob"
    );
    ensure_eq!(fx.inbox().await?.size, raw.len() as u64);
    Ok(())
}

async fn append_to_missing_mailbox_fails(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let raw = small("nowhere");
    let r = s
        .append(NO_MAILBOX, new_message(&raw, Flags::default()))
        .await;
    ensure!(r.is_err(), "append to a missing mailbox: {r:?}");
    ensure_eq!(
        s.quota_usage(fx.tom.id).await.ctx("quota")?,
        QuotaUsage::default()
    );
    let m = s.messages(NO_MAILBOX, 1..=u32::MAX).await;
    ensure!(
        matches!(&m, Ok(v) if v.is_empty()) || m.is_err(),
        "messages of a missing mailbox: {m:?}"
    );
    Ok(())
}

async fn append_many_is_atomic_and_consecutive(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let inbox = fx.inbox().await?;
    let raws: Vec<Bytes> = (0..3).map(|i| small(&format!("multi {i}"))).collect();
    let done = s
        .append_many(
            inbox.id,
            raws.iter()
                .map(|r| new_message(r, Flags::default()))
                .collect(),
        )
        .await
        .ctx("append_many")?;
    ensure_eq!(done.len(), 3);
    for w in done.windows(2) {
        ensure_eq!(w[1].uid.0, w[0].uid.0 + 1);
        ensure!(w[1].modseq > w[0].modseq, "MODSEQ must increase");
    }
    for (a, raw) in done.iter().zip(&raws) {
        ensure_eq!(
            s.read_message(inbox.id, a.uid).await.ctx("read")?,
            Some(raw.clone())
        );
    }
    ensure_eq!(fx.by_id(inbox.id).await?.messages, 3);
    // All or none: a missing mailbox stores nothing.
    let r = s
        .append_many(
            NO_MAILBOX,
            raws.iter()
                .map(|r| new_message(r, Flags::default()))
                .collect(),
        )
        .await;
    ensure!(r.is_err(), "append_many to a missing mailbox: {r:?}");
    ensure_eq!(fx.by_id(inbox.id).await?.messages, 3);
    ensure_eq!(
        s.append_many(inbox.id, Vec::new()).await.ctx("empty")?,
        Vec::new()
    );
    Ok(())
}

async fn uid_next_is_next_uid(s: Store) -> R {
    let fx = fixture(s).await?;
    let inbox = fx.inbox().await?;
    let mut last = 0u32;
    for i in 0..5 {
        let before = fx.by_id(inbox.id).await?;
        let a = fx
            .put(inbox.id, &small(&format!("n{i}")), Flags::default())
            .await?;
        ensure_eq!(a.uid, before.uid_next, "the new message gets UIDNEXT");
        ensure!(a.uid.0 > last, "UIDs increase: {} after {last}", a.uid.0);
        last = a.uid.0;
        let after = fx.by_id(inbox.id).await?;
        ensure!(after.uid_next > a.uid, "UIDNEXT above every UID");
    }
    // Expunging the newest message does not make its UID available again.
    fx.s.store_flags(
        inbox.id,
        &[Uid(last)],
        &FlagChange::Add(flags("D", &[])),
        None,
    )
    .await
    .ctx("store_flags")?;
    fx.s.expunge(inbox.id, None).await.ctx("expunge")?;
    let a = fx
        .put(inbox.id, &small("after-expunge"), Flags::default())
        .await?;
    ensure!(a.uid.0 > last, "UID {} reused after expunge", a.uid.0);
    Ok(())
}

async fn concurrent_appends_unique_uids(s: Store) -> R {
    const TASKS: usize = 32;
    const EACH: usize = 5;
    let fx = fixture(s).await?;
    let inbox = fx.inbox().await?;
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let s = fx.s.clone();
        let barrier = barrier.clone();
        let id = inbox.id;
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut got = Vec::new();
            for i in 0..EACH {
                let raw = message(&format!("t{t}-m{i}"), 150 + t * 37 + i);
                let a = s
                    .append(id, new_message(&raw, Flags::default()))
                    .await
                    .map_err(|e| format!("task {t} append {i}: {e}"))?;
                got.push((a, raw));
            }
            Ok::<_, String>(got)
        }));
    }
    let mut all = Vec::new();
    for (t, task) in tasks.into_iter().enumerate() {
        let got = join(task.await)?;
        for w in got.windows(2) {
            if let [(a, _), (b, _)] = w {
                ensure!(b.uid > a.uid, "task {t}: UID {:?} after {:?}", b.uid, a.uid);
                ensure!(
                    b.modseq > a.modseq,
                    "task {t}: MODSEQ {:?} after {:?}",
                    b.modseq,
                    a.modseq
                );
            }
        }
        all.extend(got);
    }
    let uids: BTreeSet<u32> = all.iter().map(|(a, _)| a.uid.0).collect();
    ensure_eq!(uids.len(), TASKS * EACH, "unique UIDs");
    let modseqs: BTreeSet<u64> = all.iter().map(|(a, _)| a.modseq.0).collect();
    ensure_eq!(
        modseqs.len(),
        TASKS * EACH,
        "unique MODSEQs (every change gets a higher one)"
    );
    let stored = fx.uids(inbox.id).await?;
    ensure_eq!(stored.iter().map(|u| u.0).collect::<BTreeSet<_>>(), uids);
    ensure!(
        stored.windows(2).all(|w| w[0] < w[1]),
        "messages() in UID order"
    );
    let info = fx.by_id(inbox.id).await?;
    ensure_eq!(info.messages as usize, TASKS * EACH);
    ensure_eq!(info.unseen as usize, TASKS * EACH);
    let size: u64 = all.iter().map(|(_, r)| r.len() as u64).sum();
    ensure_eq!(info.size, size);
    ensure!(
        uids.last().is_some_and(|m| info.uid_next.0 > *m),
        "UIDNEXT {:?} above {:?}",
        info.uid_next,
        uids.last()
    );
    ensure!(
        modseqs.last().is_some_and(|m| info.highest_modseq.0 >= *m),
        "HIGHESTMODSEQ {:?}",
        info.highest_modseq
    );
    for (a, raw) in &all {
        ensure_eq!(
            fx.read(inbox.id, a.uid).await?,
            Some(raw.clone()),
            "content of {:?}",
            a.uid
        );
    }
    ensure_eq!(
        fx.s.quota_usage(fx.tom.id).await.ctx("quota")?,
        QuotaUsage {
            bytes: size,
            messages: (TASKS * EACH) as u64
        }
    );
    Ok(())
}

async fn modseq_strictly_increases(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let inbox = fx.inbox().await?;
    let other = fx.create("Other").await?;
    let m0 = inbox.highest_modseq;
    let a1 = fx.put(inbox.id, &small("m1"), Flags::default()).await?;
    ensure!(a1.modseq > m0, "append: {:?} after {m0:?}", a1.modseq);
    ensure_eq!(fx.by_id(inbox.id).await?.highest_modseq, a1.modseq);
    let a2 = fx.put(inbox.id, &small("m2"), Flags::default()).await?;
    ensure!(
        a2.modseq > a1.modseq,
        "append: {:?} after {:?}",
        a2.modseq,
        a1.modseq
    );
    let st = s
        .store_flags(inbox.id, &[a1.uid], &FlagChange::Add(flags("S", &[])), None)
        .await
        .ctx("store_flags")?;
    let m3 = st.updated.first().map(|u| u.2).found("updated")?;
    ensure!(m3 > a2.modseq, "flag change: {m3:?} after {:?}", a2.modseq);
    ensure_eq!(fx.by_id(inbox.id).await?.highest_modseq, m3);
    let meta = fx.all(inbox.id).await?;
    ensure_eq!(
        meta.iter().find(|m| m.uid == a1.uid).map(|m| m.modseq),
        Some(m3)
    );
    let kw = s
        .store_flags(
            inbox.id,
            &[a1.uid, a2.uid],
            &FlagChange::Add(flags("", &["$Label1"])),
            None,
        )
        .await
        .ctx("store_flags keyword")?;
    let m4 = kw.updated.iter().map(|u| u.2).max().found("updated")?;
    ensure!(m4 > m3, "keyword change: {m4:?} after {m3:?}");
    s.store_flags(inbox.id, &[a2.uid], &FlagChange::Add(flags("D", &[])), None)
        .await
        .ctx("store_flags deleted")?;
    let before_expunge = fx.by_id(inbox.id).await?.highest_modseq;
    let gone = s.expunge(inbox.id, None).await.ctx("expunge")?;
    ensure_eq!(gone, vec![a2.uid]);
    let after_expunge = fx.by_id(inbox.id).await?.highest_modseq;
    ensure!(
        after_expunge > before_expunge,
        "expunge: {after_expunge:?} after {before_expunge:?}"
    );
    let before_copy = fx.by_id(other.id).await?.highest_modseq;
    s.copy_messages(inbox.id, &[a1.uid], other.id)
        .await
        .ctx("copy")?;
    let after_copy = fx.by_id(other.id).await?.highest_modseq;
    ensure!(
        after_copy > before_copy,
        "copy into: {after_copy:?} after {before_copy:?}"
    );
    let a5 = fx.put(inbox.id, &small("m5"), Flags::default()).await?;
    ensure!(
        a5.modseq > after_expunge,
        "append after expunge: {:?} after {after_expunge:?}",
        a5.modseq
    );
    Ok(())
}

async fn flags_add_remove_replace(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let inbox = fx.inbox().await?;
    let a = fx
        .put(inbox.id, &small("f1"), flags("", &["$MDNSent"]))
        .await?;
    let b = fx.put(inbox.id, &small("f2"), flags("A", &[])).await?;
    let get = |uid: Uid| {
        let fx = &fx;
        async move {
            fx.all(inbox.id)
                .await?
                .into_iter()
                .find(|m| m.uid == uid)
                .map(|m| m.flags)
                .found("message")
        }
    };
    let add = s
        .store_flags(
            inbox.id,
            &[a.uid, b.uid, Uid(999_999)],
            &FlagChange::Add(flags("SF", &["$Forwarded", "Custom_KW"])),
            None,
        )
        .await
        .ctx("add")?;
    ensure_eq!(add.modified, Vec::<Uid>::new());
    let listed: Vec<Uid> = add.updated.iter().map(|u| u.0).collect();
    ensure_eq!(listed, vec![a.uid, b.uid], "missing UIDs are ignored");
    let want_a = flags("SF", &["$Forwarded", "$MDNSent", "Custom_KW"]);
    let want_b = flags("ASF", &["$Forwarded", "Custom_KW"]);
    ensure_eq!(
        add.updated.first().map(|u| u.1.clone()),
        Some(want_a.clone())
    );
    ensure_eq!(get(a.uid).await?, want_a, "keywords keep their case");
    ensure_eq!(get(b.uid).await?, want_b);
    s.store_flags(
        inbox.id,
        &[a.uid, b.uid],
        &FlagChange::Remove(flags("SA", &["Custom_KW", "$NotThere"])),
        None,
    )
    .await
    .ctx("remove")?;
    ensure_eq!(get(a.uid).await?, flags("F", &["$Forwarded", "$MDNSent"]));
    ensure_eq!(get(b.uid).await?, flags("F", &["$Forwarded"]));
    let rep = s
        .store_flags(
            inbox.id,
            &[a.uid],
            &FlagChange::Replace(flags("RD", &["$Junk"])),
            None,
        )
        .await
        .ctx("replace")?;
    ensure_eq!(
        rep.updated.first().map(|u| u.1.clone()),
        Some(flags("RD", &["$Junk"]))
    );
    ensure_eq!(get(a.uid).await?, flags("RD", &["$Junk"]));
    s.store_flags(
        inbox.id,
        &[b.uid],
        &FlagChange::Replace(Flags::default()),
        None,
    )
    .await
    .ctx("replace with nothing")?;
    ensure_eq!(get(b.uid).await?, Flags::default());
    let none = s
        .store_flags(
            inbox.id,
            &[Uid(999_998)],
            &FlagChange::Add(flags("S", &[])),
            None,
        )
        .await
        .ctx("missing only")?;
    ensure_eq!(none, crate::mailbox::FlagsStored::default());
    Ok(())
}

async fn flags_unchanged_keep_modseq(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let inbox = fx.inbox().await?;
    let a = fx.put(inbox.id, &small("u1"), flags("S", &["$X"])).await?;
    let highest = fx.by_id(inbox.id).await?.highest_modseq;
    let r = s
        .store_flags(
            inbox.id,
            &[a.uid],
            &FlagChange::Add(flags("S", &["$X"])),
            None,
        )
        .await
        .ctx("store_flags no-op")?;
    ensure_eq!(
        r.updated,
        vec![(a.uid, flags("S", &["$X"]), a.modseq)],
        "listed with its old MODSEQ"
    );
    ensure_eq!(
        fx.by_id(inbox.id).await?.highest_modseq,
        highest,
        "a no-op is not a change"
    );
    Ok(())
}

async fn condstore_unchanged_since(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let inbox = fx.inbox().await?;
    let a = fx.put(inbox.id, &small("c1"), Flags::default()).await?;
    let b = fx.put(inbox.id, &small("c2"), Flags::default()).await?;
    let c = fx.put(inbox.id, &small("c3"), Flags::default()).await?;
    let mark = fx.by_id(inbox.id).await?.highest_modseq;
    // Another client changes b.
    let other = s
        .store_flags(inbox.id, &[b.uid], &FlagChange::Add(flags("F", &[])), None)
        .await
        .ctx("store_flags")?;
    let b_mod = other.updated.first().map(|u| u.2).found("b")?;
    ensure!(b_mod > mark);
    let r = s
        .store_flags(
            inbox.id,
            &[a.uid, b.uid, c.uid],
            &FlagChange::Add(flags("S", &[])),
            Some(mark),
        )
        .await
        .ctx("conditional store")?;
    ensure_eq!(r.modified, vec![b.uid], "b changed after UNCHANGEDSINCE");
    let updated: Vec<Uid> = r.updated.iter().map(|u| u.0).collect();
    ensure_eq!(updated, vec![a.uid, c.uid]);
    let metas = fx.all(inbox.id).await?;
    let fl = |u: Uid| {
        metas
            .iter()
            .find(|m| m.uid == u)
            .map(|m| (m.flags.clone(), m.modseq))
    };
    ensure_eq!(fl(b.uid), Some((flags("F", &[]), b_mod)), "b left alone");
    ensure!(
        fl(a.uid).is_some_and(|(f, m)| f.seen && m > b_mod),
        "a updated: {:?}",
        fl(a.uid)
    );
    ensure!(fl(c.uid).is_some_and(|(f, _)| f.seen), "c updated");
    // UNCHANGEDSINCE equal to the message's MODSEQ passes (RFC 7162 §3.2: only higher fails).
    let r = s
        .store_flags(
            inbox.id,
            &[b.uid],
            &FlagChange::Add(flags("A", &[])),
            Some(b_mod),
        )
        .await
        .ctx("conditional store at equal modseq")?;
    ensure_eq!(r.modified, Vec::<Uid>::new());
    ensure_eq!(r.updated.len(), 1);
    // UNCHANGEDSINCE 0 fails for every message.
    let r = s
        .store_flags(
            inbox.id,
            &[a.uid, c.uid],
            &FlagChange::Add(flags("D", &[])),
            Some(ModSeq(0)),
        )
        .await
        .ctx("conditional store since 0")?;
    ensure_eq!(r.modified, vec![a.uid, c.uid]);
    ensure!(r.updated.is_empty());
    ensure!(
        fx.all(inbox.id).await?.iter().all(|m| !m.flags.deleted),
        "nothing marked deleted"
    );
    Ok(())
}

async fn copy_messages_shares_blob(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let inbox = fx.inbox().await?;
    let archive = fx.mbox(fx.tom.id, "Archive").await?;
    fx.put(archive.id, &small("already-there"), Flags::default())
        .await?;
    let raws = [
        message("cp1", 900),
        message("cp2", 1900),
        message("cp3", 2900),
    ];
    let mut apps = Vec::new();
    for (i, r) in raws.iter().enumerate() {
        let f = if i == 0 {
            flags("SF", &["$Work"])
        } else {
            Flags::default()
        };
        apps.push(
            s.append(
                inbox.id,
                NewMessage {
                    raw: r.clone(),
                    flags: f,
                    internal_date: 1_650_000_000 + i as i64,
                },
            )
            .await
            .ctx("append")?,
        );
    }
    let src_before = fx.all(inbox.id).await?;
    let src_info = fx.by_id(inbox.id).await?;
    let dst_info = fx.by_id(archive.id).await?;
    let want: Vec<Uid> = apps.iter().take(2).map(|a| a.uid).collect();
    let pairs = s
        .copy_messages(inbox.id, &want, archive.id)
        .await
        .ctx("copy")?;
    let mut sorted = pairs.clone();
    sorted.sort();
    ensure_eq!(
        sorted.iter().map(|p| p.0).collect::<Vec<_>>(),
        want,
        "source UIDs"
    );
    ensure!(
        sorted.windows(2).all(|w| w[0].1 < w[1].1),
        "new UIDs follow source order: {pairs:?}"
    );
    ensure!(
        sorted.iter().all(|p| p.1 >= dst_info.uid_next),
        "new UIDs from UIDNEXT {:?}: {pairs:?}",
        dst_info.uid_next
    );
    // Source untouched.
    ensure_eq!(
        fx.all(inbox.id).await?,
        src_before,
        "source messages unchanged"
    );
    let src_after = fx.by_id(inbox.id).await?;
    ensure_eq!(
        src_after.highest_modseq,
        src_info.highest_modseq,
        "source HIGHESTMODSEQ"
    );
    ensure_eq!(src_after.messages, 3);
    // Target has the copies, same bytes, same blob, flags and date kept.
    let dst = fx.all(archive.id).await?;
    ensure_eq!(dst.len(), 3);
    for (i, (src_uid, new_uid)) in sorted.iter().enumerate() {
        let orig = src_before
            .iter()
            .find(|m| m.uid == *src_uid)
            .found("source")?;
        let copy = dst.iter().find(|m| m.uid == *new_uid).found("copy")?;
        ensure_eq!(copy.blob, orig.blob, "copy {i} shares the blob");
        ensure_eq!(copy.size, orig.size);
        ensure_eq!(copy.flags, orig.flags, "flags are copied");
        ensure_eq!(
            copy.internal_date,
            orig.internal_date,
            "INTERNALDATE is copied"
        );
        ensure_eq!(fx.read(archive.id, *new_uid).await?, raws.get(i).cloned());
    }
    let dst_after = fx.by_id(archive.id).await?;
    ensure_eq!(dst_after.messages, 3);
    ensure_eq!(dst_after.unseen, 2, "the \\Seen copy is seen");
    ensure_eq!(dst_after.size, dst_info.size + 900 + 1900);
    // Copying again gives new UIDs again.
    let again = s
        .copy_messages(inbox.id, &want[..1], archive.id)
        .await
        .ctx("copy again")?;
    ensure!(
        again
            .first()
            .is_some_and(|p| sorted.iter().all(|q| p.1 > q.1)),
        "second copy: {again:?}"
    );
    Ok(())
}

async fn move_messages_leaves_tombstone(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let inbox = fx.inbox().await?;
    let trash = fx.mbox(fx.tom.id, "Trash").await?;
    let r1 = message("mv1", 1000);
    let r2 = message("mv2", 2000);
    let r3 = message("mv3", 3000);
    let a1 = fx.put(inbox.id, &r1, flags("S", &["$Y"])).await?;
    let a2 = fx.put(inbox.id, &r2, Flags::default()).await?;
    let a3 = fx.put(inbox.id, &r3, Flags::default()).await?;
    let mark = fx.by_id(inbox.id).await?.highest_modseq;
    let quota = s.quota_usage(fx.tom.id).await.ctx("quota")?;
    let pairs = s
        .move_messages(inbox.id, &[a1.uid, a3.uid], trash.id)
        .await
        .ctx("move")?;
    let mut sorted = pairs.clone();
    sorted.sort();
    ensure_eq!(
        sorted.iter().map(|p| p.0).collect::<Vec<_>>(),
        vec![a1.uid, a3.uid]
    );
    ensure_eq!(
        fx.uids(inbox.id).await?,
        vec![a2.uid],
        "source keeps only the rest"
    );
    ensure_eq!(fx.read(inbox.id, a1.uid).await?, None);
    let src = fx.by_id(inbox.id).await?;
    ensure_eq!((src.messages, src.unseen, src.size), (1, 1, 2000));
    ensure!(src.highest_modseq > mark, "source HIGHESTMODSEQ rises");
    let ch = s.changes_since(inbox.id, mark).await.ctx("changes_since")?;
    ensure_eq!(ch.expunged, vec![a1.uid, a3.uid], "tombstones");
    ensure!(
        ch.changed.is_empty(),
        "nothing else changed: {:?}",
        ch.changed
    );
    ensure_eq!(ch.highest_modseq, src.highest_modseq);
    let dst = fx.all(trash.id).await?;
    ensure_eq!(dst.len(), 2);
    for ((_, new), raw) in sorted.iter().zip([&r1, &r3]) {
        ensure_eq!(fx.read(trash.id, *new).await?, Some(raw.clone()));
        let m = dst.iter().find(|m| m.uid == *new).found("moved")?;
        ensure_eq!(m.blob, BlobId::of(raw));
    }
    ensure_eq!(
        sorted
            .first()
            .and_then(|p| dst.iter().find(|m| m.uid == p.1))
            .map(|m| m.flags.clone()),
        Some(flags("S", &["$Y"])),
        "flags move along"
    );
    ensure_eq!(
        s.quota_usage(fx.tom.id).await.ctx("quota")?,
        quota,
        "moving within the account"
    );
    Ok(())
}

async fn expunge_only_deleted(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let inbox = fx.inbox().await?;
    let mut uids = Vec::new();
    for i in 0..5 {
        let f = if i % 2 == 1 {
            flags("D", &[])
        } else {
            Flags::default()
        };
        uids.push(fx.put(inbox.id, &small(&format!("e{i}")), f).await?.uid);
    }
    s.store_flags(
        inbox.id,
        &uids[4..],
        &FlagChange::Add(flags("DS", &[])),
        None,
    )
    .await
    .ctx("store_flags")?;
    let gone = s.expunge(inbox.id, None).await.ctx("expunge")?;
    let want: Vec<Uid> = vec![uids[1], uids[3], uids[4]];
    ensure_eq!(gone, want, "only \\Deleted, in order");
    ensure_eq!(fx.uids(inbox.id).await?, vec![uids[0], uids[2]]);
    ensure_eq!(
        s.expunge(inbox.id, None).await.ctx("expunge again")?,
        Vec::<Uid>::new()
    );
    let info = fx.by_id(inbox.id).await?;
    ensure_eq!(info.messages, 2);
    ensure_eq!(info.unseen, 2);
    ensure_eq!(fx.read(inbox.id, uids[1]).await?, None);
    Ok(())
}

async fn expunge_uid_subset(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let inbox = fx.inbox().await?;
    let mut uids = Vec::new();
    for i in 0..5 {
        let f = if i < 4 {
            flags("D", &[])
        } else {
            Flags::default()
        };
        uids.push(fx.put(inbox.id, &small(&format!("x{i}")), f).await?.uid);
    }
    let gone = s
        .expunge(inbox.id, Some(&[uids[3], uids[0], uids[4], Uid(999_999)]))
        .await
        .ctx("uid expunge")?;
    ensure_eq!(
        gone,
        vec![uids[0], uids[3]],
        "only listed and \\Deleted, in UID order"
    );
    ensure_eq!(fx.uids(inbox.id).await?, vec![uids[1], uids[2], uids[4]]);
    let gone = s
        .expunge(inbox.id, Some(&[]))
        .await
        .ctx("empty uid expunge")?;
    ensure_eq!(gone, Vec::<Uid>::new(), "an empty set expunges nothing");
    ensure_eq!(fx.uids(inbox.id).await?.len(), 3);
    Ok(())
}

async fn changes_since_lists_changed_and_expunged(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let inbox = fx.inbox().await?;
    let a1 = fx.put(inbox.id, &small("q1"), Flags::default()).await?;
    let a2 = fx.put(inbox.id, &small("q2"), flags("D", &[])).await?;
    let a3 = fx.put(inbox.id, &small("q3"), Flags::default()).await?;
    let all = s
        .changes_since(inbox.id, ModSeq(0))
        .await
        .ctx("changes_since 0")?;
    ensure_eq!(
        all.changed.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![a1.uid, a2.uid, a3.uid]
    );
    ensure!(all.expunged.is_empty());
    let mark = fx.by_id(inbox.id).await?.highest_modseq;
    ensure_eq!(all.highest_modseq, mark);
    let quiet = s
        .changes_since(inbox.id, mark)
        .await
        .ctx("changes_since now")?;
    ensure!(
        quiet.changed.is_empty() && quiet.expunged.is_empty(),
        "{quiet:?}"
    );
    ensure_eq!(quiet.highest_modseq, mark);
    s.store_flags(inbox.id, &[a3.uid], &FlagChange::Add(flags("S", &[])), None)
        .await
        .ctx("store_flags")?;
    s.expunge(inbox.id, None).await.ctx("expunge")?;
    let a4 = fx.put(inbox.id, &small("q4"), Flags::default()).await?;
    let ch = s
        .changes_since(inbox.id, mark)
        .await
        .ctx("changes_since mark")?;
    ensure_eq!(
        ch.changed.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![a3.uid, a4.uid],
        "by UID"
    );
    ensure!(ch.changed.iter().all(|m| m.modseq > mark));
    ensure_eq!(ch.changed.first().map(|m| m.flags.seen), Some(true));
    ensure_eq!(ch.expunged, vec![a2.uid]);
    ensure_eq!(ch.highest_modseq, fx.by_id(inbox.id).await?.highest_modseq);
    ensure_eq!(ch.highest_modseq, a4.modseq);
    // Since the append of a4: nothing more.
    let late = s
        .changes_since(inbox.id, a4.modseq)
        .await
        .ctx("changes_since a4")?;
    ensure!(
        late.changed.is_empty() && late.expunged.is_empty(),
        "{late:?}"
    );
    // Between: only what happened after.
    let mid = s
        .changes_since(inbox.id, ModSeq(a4.modseq.0 - 1))
        .await
        .ctx("changes_since a4-1")?;
    ensure_eq!(
        mid.changed.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![a4.uid]
    );
    ensure!(mid.expunged.is_empty());
    Ok(())
}

async fn messages_range(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let inbox = fx.inbox().await?;
    let mut uids = Vec::new();
    for i in 0..6 {
        uids.push(
            fx.put(inbox.id, &small(&format!("r{i}")), Flags::default())
                .await?
                .uid,
        );
    }
    let (u1, u2, u4) = (uids[1].0, uids[2].0, uids[4].0);
    let mid = s.messages(inbox.id, u1..=u4).await.ctx("messages")?;
    ensure_eq!(
        mid.iter().map(|m| m.uid).collect::<Vec<_>>(),
        uids[1..=4].to_vec()
    );
    let one = s.messages(inbox.id, u2..=u2).await.ctx("messages")?;
    ensure_eq!(one.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![uids[2]]);
    let past = s
        .messages(inbox.id, uids[5].0 + 1..=u32::MAX)
        .await
        .ctx("messages")?;
    ensure!(past.is_empty(), "beyond the last UID: {past:?}");
    s.store_flags(
        inbox.id,
        &[uids[2], uids[3]],
        &FlagChange::Add(flags("D", &[])),
        None,
    )
    .await
    .ctx("store_flags")?;
    s.expunge(inbox.id, None).await.ctx("expunge")?;
    let gap = s.messages(inbox.id, u1..=u4).await.ctx("messages")?;
    ensure_eq!(
        gap.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![uids[1], uids[4]]
    );
    let all = s
        .messages(inbox.id, 0..=u32::MAX)
        .await
        .ctx("messages 0..")?;
    ensure_eq!(all.len(), 4);
    Ok(())
}

async fn mailbox_counters(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let inbox = fx.inbox().await?;
    let a = fx
        .put(inbox.id, &message("k1", 100), Flags::default())
        .await?;
    let b = fx
        .put(inbox.id, &message("k2", 200), flags("S", &[]))
        .await?;
    let c = fx
        .put(inbox.id, &message("k3", 300), Flags::default())
        .await?;
    let check = |m: &MailboxInfo, n: u32, unseen: u32, size: u64| -> R {
        ensure_eq!(
            (m.messages, m.unseen, m.size),
            (n, unseen, size),
            "{}",
            m.name
        );
        Ok(())
    };
    check(&fx.by_id(inbox.id).await?, 3, 2, 600)?;
    check(&fx.inbox().await?, 3, 2, 600)?;
    let listed = s.list_mailboxes(fx.tom.id).await.ctx("list_mailboxes")?;
    check(
        listed
            .iter()
            .find(|m| m.id == inbox.id)
            .found("listed inbox")?,
        3,
        2,
        600,
    )?;
    s.store_flags(inbox.id, &[a.uid], &FlagChange::Add(flags("S", &[])), None)
        .await
        .ctx("seen")?;
    check(&fx.by_id(inbox.id).await?, 3, 1, 600)?;
    s.store_flags(
        inbox.id,
        &[b.uid],
        &FlagChange::Remove(flags("S", &[])),
        None,
    )
    .await
    .ctx("unseen")?;
    check(&fx.by_id(inbox.id).await?, 3, 2, 600)?;
    s.store_flags(
        inbox.id,
        &[c.uid],
        &FlagChange::Replace(flags("D", &[])),
        None,
    )
    .await
    .ctx("deleted")?;
    s.expunge(inbox.id, None).await.ctx("expunge")?;
    check(&fx.by_id(inbox.id).await?, 2, 1, 300)?;
    let sent = fx.mbox(fx.tom.id, "Sent").await?;
    check(&sent, 0, 0, 0)?;
    Ok(())
}

async fn quota_usage_accounting(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let jane = fx.account("jane").await?;
    let inbox = fx.inbox().await?;
    let archive = fx.mbox(fx.tom.id, "Archive").await?;
    let q = |bytes, messages| QuotaUsage { bytes, messages };
    ensure_eq!(s.quota_usage(fx.tom.id).await.ctx("quota")?, q(0, 0));
    let a = fx
        .put(inbox.id, &message("q1", 1000), Flags::default())
        .await?;
    fx.put(inbox.id, &message("q2", 2500), Flags::default())
        .await?;
    ensure_eq!(s.quota_usage(fx.tom.id).await.ctx("quota")?, q(3500, 2));
    s.copy_messages(inbox.id, &[a.uid], archive.id)
        .await
        .ctx("copy")?;
    ensure_eq!(
        s.quota_usage(fx.tom.id).await.ctx("quota")?,
        q(4500, 3),
        "a copy counts twice"
    );
    s.store_flags(inbox.id, &[a.uid], &FlagChange::Add(flags("D", &[])), None)
        .await
        .ctx("store_flags")?;
    ensure_eq!(
        s.quota_usage(fx.tom.id).await.ctx("quota")?,
        q(4500, 3),
        "\\Deleted still counts"
    );
    s.expunge(inbox.id, None).await.ctx("expunge")?;
    ensure_eq!(s.quota_usage(fx.tom.id).await.ctx("quota")?, q(3500, 2));
    ensure_eq!(
        s.quota_usage(jane.id).await.ctx("quota")?,
        q(0, 0),
        "per account"
    );
    let jane_in = fx.mbox(jane.id, INBOX).await?;
    let dup = message("q3", 700);
    s.deliver(
        dup,
        1_700_000_000,
        &[
            DeliveryTarget {
                mailbox: inbox.id,
                flags: Flags::default(),
            },
            DeliveryTarget {
                mailbox: archive.id,
                flags: Flags::default(),
            },
            DeliveryTarget {
                mailbox: jane_in.id,
                flags: Flags::default(),
            },
        ],
    )
    .await
    .ctx("deliver")?;
    ensure_eq!(s.quota_usage(fx.tom.id).await.ctx("quota")?, q(4900, 4));
    ensure_eq!(s.quota_usage(jane.id).await.ctx("quota")?, q(700, 1));
    let mut sums = QuotaUsage::default();
    for m in s.list_mailboxes(fx.tom.id).await.ctx("list_mailboxes")? {
        sums.bytes += m.size;
        sums.messages += u64::from(m.messages);
    }
    ensure_eq!(sums, q(4900, 4), "usage equals the mailbox counters");
    Ok(())
}

// --- blobs ----------------------------------------------------------------------------------

async fn deliver_stores_one_blob(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let jane = fx.account("jane").await?;
    let raw = message("delivered", 5000);
    let targets = [
        (fx.inbox().await?.id, Flags::default()),
        (fx.mbox(fx.tom.id, "Archive").await?.id, flags("S", &[])),
        (fx.mbox(jane.id, INBOX).await?.id, flags("", &["$Junk"])),
    ];
    let before: Vec<MailboxInfo> = {
        let mut v = Vec::new();
        for (id, _) in &targets {
            v.push(fx.by_id(*id).await?);
        }
        v
    };
    let done = s
        .deliver(
            raw.clone(),
            1_700_000_123,
            &targets
                .iter()
                .map(|(mailbox, flags)| DeliveryTarget {
                    mailbox: *mailbox,
                    flags: flags.clone(),
                })
                .collect::<Vec<_>>(),
        )
        .await
        .ctx("deliver")?;
    ensure_eq!(done.len(), 3, "one Appended per target");
    let id = BlobId::of(&raw);
    for (((mailbox, f), app), info) in targets.iter().zip(&done).zip(&before) {
        ensure_eq!(app.mailbox, *mailbox, "in target order");
        ensure_eq!(app.uid, info.uid_next);
        ensure_eq!(app.uid_validity, info.uid_validity);
        let metas = fx.all(*mailbox).await?;
        let m = metas.first().found("delivered message")?;
        ensure_eq!(m.blob, id, "one blob");
        ensure_eq!(&m.flags, f, "per-target flags");
        ensure_eq!(m.internal_date, 1_700_000_123);
        ensure_eq!(m.size, raw.len() as u64);
        ensure_eq!(fx.read(*mailbox, app.uid).await?, Some(raw.clone()));
    }
    ensure_eq!(s.get_blob(&id).await.ctx("get_blob")?, Some(raw.clone()));
    ensure_eq!(
        s.put_blob(raw).await.ctx("put_blob")?,
        id,
        "storing it again gives the same id"
    );
    ensure_eq!(
        s.collect_garbage().await.ctx("collect_garbage")?,
        0,
        "nothing is orphaned"
    );
    Ok(())
}

async fn identical_appends_share_blob(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let inbox = fx.inbox().await?;
    let raw = message("twice", 4321);
    let a = fx.put(inbox.id, &raw, Flags::default()).await?;
    let b = fx.put(inbox.id, &raw, flags("S", &[])).await?;
    ensure!(a.uid != b.uid, "two messages");
    let metas = fx.all(inbox.id).await?;
    ensure_eq!(metas.len(), 2);
    ensure!(
        metas.iter().all(|m| m.blob == BlobId::of(&raw)),
        "same BlobId: {metas:?}"
    );
    let p1 = s
        .put_blob(Bytes::from_static(b"standalone blob"))
        .await
        .ctx("put_blob")?;
    let p2 = s
        .put_blob(Bytes::from_static(b"standalone blob"))
        .await
        .ctx("put_blob again")?;
    ensure_eq!(p1, p2);
    ensure_eq!(p1, BlobId::of(b"standalone blob"));
    ensure_eq!(
        s.get_blob(&p1).await.ctx("get_blob")?,
        Some(Bytes::from_static(b"standalone blob"))
    );
    // Expunging one of the two keeps the blob for the other.
    s.store_flags(inbox.id, &[a.uid], &FlagChange::Add(flags("D", &[])), None)
        .await
        .ctx("store_flags")?;
    s.expunge(inbox.id, None).await.ctx("expunge")?;
    s.collect_garbage().await.ctx("collect_garbage")?;
    ensure_eq!(fx.read(inbox.id, b.uid).await?, Some(raw));
    Ok(())
}

async fn blob_range_is_clamped(s: Store) -> R {
    let data: Bytes = (0..100u8).collect::<Vec<u8>>().into();
    let id = s.put_blob(data.clone()).await.ctx("put_blob")?;
    ensure_eq!(id, BlobId::of(&data));
    let range = |r: std::ops::Range<u64>| {
        let s = s.clone();
        async move { s.get_blob_range(&id, r).await.ctx("get_blob_range") }
    };
    ensure_eq!(range(10..20).await?, Some(data.slice(10..20)));
    ensure_eq!(range(0..100).await?, Some(data.clone()));
    ensure_eq!(
        range(90..200).await?,
        Some(data.slice(90..100)),
        "end clamped"
    );
    ensure_eq!(range(0..u64::MAX).await?, Some(data.clone()), "end clamped");
    ensure_eq!(
        range(150..200).await?,
        Some(Bytes::new()),
        "start beyond the end"
    );
    ensure_eq!(range(40..40).await?, Some(Bytes::new()), "empty range");
    let missing = BlobId::of(b"never stored");
    ensure_eq!(s.get_blob(&missing).await.ctx("get_blob")?, None);
    ensure_eq!(
        s.get_blob_range(&missing, 0..10)
            .await
            .ctx("get_blob_range")?,
        None
    );
    let empty = s.put_blob(Bytes::new()).await.ctx("put_blob empty")?;
    ensure_eq!(
        s.get_blob(&empty).await.ctx("get_blob")?,
        Some(Bytes::new())
    );
    Ok(())
}

async fn garbage_collected_after_last_reference(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let inbox = fx.inbox().await?;
    let archive = fx.mbox(fx.tom.id, "Archive").await?;
    let raw = message("gc", 2048);
    let id = BlobId::of(&raw);
    let orphan1 = s
        .put_blob(Bytes::from_static(b"orphan one"))
        .await
        .ctx("put_blob")?;
    let orphan2 = s
        .put_blob(Bytes::from_static(b"orphan two"))
        .await
        .ctx("put_blob")?;
    let done = s
        .deliver(
            raw.clone(),
            1_700_000_000,
            &[
                DeliveryTarget {
                    mailbox: inbox.id,
                    flags: flags("D", &[]),
                },
                DeliveryTarget {
                    mailbox: archive.id,
                    flags: flags("D", &[]),
                },
            ],
        )
        .await
        .ctx("deliver")?;
    let removed = s.collect_garbage().await.ctx("collect_garbage")?;
    ensure_eq!(removed, 2, "the two orphans");
    ensure_eq!(s.get_blob(&orphan1).await.ctx("get_blob")?, None);
    ensure_eq!(s.get_blob(&orphan2).await.ctx("get_blob")?, None);
    ensure_eq!(
        s.get_blob(&id).await.ctx("get_blob")?,
        Some(raw.clone()),
        "referenced twice"
    );
    ensure_eq!(s.expunge(inbox.id, None).await.ctx("expunge")?.len(), 1);
    s.collect_garbage().await.ctx("collect_garbage")?;
    ensure_eq!(
        s.get_blob(&id).await.ctx("get_blob")?,
        Some(raw.clone()),
        "still referenced by Archive"
    );
    let uid = done.get(1).map(|a| a.uid).found("archive copy")?;
    ensure_eq!(fx.read(archive.id, uid).await?, Some(raw.clone()));
    ensure_eq!(s.expunge(archive.id, None).await.ctx("expunge")?, vec![uid]);
    s.collect_garbage().await.ctx("collect_garbage")?;
    ensure_eq!(
        s.get_blob(&id).await.ctx("get_blob")?,
        None,
        "collected after the last reference"
    );
    ensure_eq!(
        s.collect_garbage().await.ctx("collect_garbage")?,
        0,
        "nothing left"
    );
    Ok(())
}

async fn queue_entry_keeps_blob(s: Store) -> R {
    let raw = message("queued", 3000);
    let now = crate::now();
    let id = s
        .enqueue(NewQueueEntry {
            sender: ReversePath::Address(addr("tom@example.com")?),
            recipients: vec![addr("a@remote.example")?],
            raw: raw.clone(),
            next_attempt: now,
        })
        .await
        .ctx("enqueue")?;
    s.collect_garbage().await.ctx("collect_garbage")?;
    ensure_eq!(
        s.get_blob(&BlobId::of(&raw)).await.ctx("get_blob")?,
        Some(raw.clone()),
        "a queue entry references its blob"
    );
    let leased = s.lease_due(now, "w", 60, 10).await.ctx("lease_due")?;
    ensure_eq!(leased.len(), 1);
    s.remove_entry(id, "w").await.ctx("remove_entry")?;
    s.collect_garbage().await.ctx("collect_garbage")?;
    ensure_eq!(s.get_blob(&BlobId::of(&raw)).await.ctx("get_blob")?, None);
    Ok(())
}

async fn deliver_all_or_nothing(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let jane = fx.account("jane").await?;
    let inbox = fx.inbox().await?;
    let jane_in = fx.mbox(jane.id, INBOX).await?;
    let gone = fx.create("Gone").await?;
    s.delete_mailbox(fx.tom.id, "Gone").await.ctx("delete")?;
    let raw = message("atomic", 1234);
    for bad in [NO_MAILBOX, gone.id] {
        let r = s
            .deliver(
                raw.clone(),
                1_700_000_000,
                &[
                    DeliveryTarget {
                        mailbox: inbox.id,
                        flags: Flags::default(),
                    },
                    DeliveryTarget {
                        mailbox: bad,
                        flags: Flags::default(),
                    },
                    DeliveryTarget {
                        mailbox: jane_in.id,
                        flags: Flags::default(),
                    },
                ],
            )
            .await;
        ensure!(r.is_err(), "deliver with target {bad:?}: {r:?}");
        for m in [&inbox, &jane_in] {
            let now = fx.by_id(m.id).await?;
            ensure_eq!(now.messages, 0, "nothing stored in {:?}", m.id);
            ensure_eq!(fx.all(m.id).await?.len(), 0);
            ensure_eq!(
                now.highest_modseq,
                m.highest_modseq,
                "no change in {:?}",
                m.id
            );
        }
        ensure_eq!(
            s.quota_usage(fx.tom.id).await.ctx("quota")?,
            QuotaUsage::default()
        );
        ensure_eq!(
            s.quota_usage(jane.id).await.ctx("quota")?,
            QuotaUsage::default()
        );
        ensure_eq!(
            s.get_blob(&BlobId::of(&raw)).await.ctx("get_blob")?,
            None,
            "no blob stored"
        );
    }
    // An empty target list stores nothing either.
    let r = s.deliver(raw.clone(), 1_700_000_000, &[]).await;
    ensure!(
        matches!(&r, Ok(v) if v.is_empty()) || r.is_err(),
        "deliver to nobody: {r:?}"
    );
    // And a good delivery afterwards works: UIDs were not consumed by failures.
    let ok = s
        .deliver(
            raw,
            1_700_000_000,
            &[DeliveryTarget {
                mailbox: inbox.id,
                flags: Flags::default(),
            }],
        )
        .await
        .ctx("deliver")?;
    ensure_eq!(ok.first().map(|a| a.uid), Some(inbox.uid_next));
    Ok(())
}

async fn change_notifications(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let inbox = fx.inbox().await?;
    let sent = fx.mbox(fx.tom.id, "Sent").await?;
    let mut rx = s.subscribe_changes();
    async fn next_for(
        rx: &mut tokio::sync::broadcast::Receiver<crate::mailbox::MailboxChange>,
        mailbox: MailboxId,
        modseq: ModSeq,
    ) -> R<crate::mailbox::MailboxChange> {
        let wait = async {
            loop {
                match rx.recv().await {
                    Ok(c) if c.mailbox == mailbox && c.modseq >= modseq => return Ok(c),
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(e) => return Err(format!("change channel: {e}")),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .map_err(|_| format!("no notification for {mailbox:?} at {modseq:?} within 10 s"))?
    }
    let a = fx.put(inbox.id, &small("n1"), Flags::default()).await?;
    let c = next_for(&mut rx, inbox.id, a.modseq).await?;
    ensure_eq!(c.account, fx.tom.id);
    ensure_eq!(c.modseq, a.modseq);
    let b = fx.put(sent.id, &small("n2"), Flags::default()).await?;
    let c = next_for(&mut rx, sent.id, b.modseq).await?;
    ensure_eq!(
        (c.account, c.mailbox, c.modseq),
        (fx.tom.id, sent.id, b.modseq)
    );
    let st = s
        .store_flags(inbox.id, &[a.uid], &FlagChange::Add(flags("S", &[])), None)
        .await
        .ctx("store_flags")?;
    let m = st.updated.first().map(|u| u.2).found("updated")?;
    let c = next_for(&mut rx, inbox.id, m).await?;
    ensure_eq!(c.modseq, m);
    // A second subscriber sees later changes too.
    let mut rx2 = s.subscribe_changes();
    let d = fx.put(inbox.id, &small("n3"), Flags::default()).await?;
    next_for(&mut rx, inbox.id, d.modseq).await?;
    next_for(&mut rx2, inbox.id, d.modseq).await?;
    Ok(())
}

// --- queue ----------------------------------------------------------------------------------

fn queued(tag: &str, recipients: &[&str], next_attempt: i64) -> R<NewQueueEntry> {
    Ok(NewQueueEntry {
        sender: ReversePath::Address(addr("tom@example.com")?),
        recipients: recipients.iter().map(|r| addr(r)).collect::<R<Vec<_>>>()?,
        raw: small(tag),
        next_attempt,
    })
}

async fn queue_enqueue_list_entry(s: Store) -> R {
    let now = crate::now();
    let e1 = queued("q1", &["a@remote.example", "b@other.example"], now)?;
    let mut e2 = queued("q2", &["c@remote.example"], now + 600)?;
    e2.sender = ReversePath::Null;
    let id1 = s.enqueue(e1.clone()).await.ctx("enqueue")?;
    let id2 = s.enqueue(e2.clone()).await.ctx("enqueue")?;
    ensure!(id1 != id2);
    let got = s
        .queue_entry(id1)
        .await
        .ctx("queue_entry")?
        .found("entry 1")?;
    ensure_eq!(got.id, id1);
    ensure_eq!(got.sender, e1.sender);
    ensure_eq!(
        got.recipients,
        e1.recipients
            .iter()
            .map(|a| QueueRecipient {
                address: a.clone(),
                status: RecipientStatus::Pending,
                attempts: 0,
                last_error: None,
            })
            .collect::<Vec<_>>()
    );
    ensure_eq!(got.blob, BlobId::of(&e1.raw));
    ensure_eq!(got.size, e1.raw.len() as u64);
    ensure_eq!(got.next_attempt, now);
    ensure!(
        (now - 5..=crate::now() + 5).contains(&got.created),
        "created {}",
        got.created
    );
    ensure_eq!(
        s.get_blob(&got.blob).await.ctx("get_blob")?,
        Some(e1.raw.clone())
    );
    let got2 = s
        .queue_entry(id2)
        .await
        .ctx("queue_entry")?
        .found("entry 2")?;
    ensure_eq!(got2.sender, ReversePath::Null);
    ensure_eq!(got2.next_attempt, now + 600);
    ensure_eq!(
        s.queue_entry(QueueId(i64::MAX - 3))
            .await
            .ctx("queue_entry")?,
        None
    );
    let all = s.list_queue().await.ctx("list_queue")?;
    let mut ids: Vec<QueueId> = vec![id1, id2];
    ids.sort();
    ensure_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), ids, "by id");
    ensure_eq!(all.iter().find(|e| e.id == id1), Some(&got));
    Ok(())
}

async fn queue_lease_exclusive_concurrent(s: Store) -> R {
    const ENTRIES: usize = 40;
    const WORKERS: usize = 4;
    let now = crate::now();
    for i in 0..ENTRIES {
        s.enqueue(queued(&format!("l{i}"), &["a@remote.example"], now - 10)?)
            .await
            .ctx("enqueue")?;
    }
    // Two callers at once, each asking for everything.
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let mut pair = Vec::new();
    for owner in ["first", "second"] {
        let s = s.clone();
        let barrier = barrier.clone();
        pair.push(tokio::spawn(async move {
            barrier.wait().await;
            s.lease_due(now, owner, 300, 1000)
                .await
                .map(|v| v.into_iter().map(|e| e.id).collect::<Vec<_>>())
                .map_err(|e| format!("lease_due {owner}: {e}"))
        }));
    }
    let mut seen: BTreeMap<QueueId, usize> = BTreeMap::new();
    for t in pair {
        for id in join(t.await)? {
            *seen.entry(id).or_default() += 1;
        }
    }
    ensure!(
        seen.values().all(|n| *n == 1),
        "an entry leased twice: {seen:?}"
    );
    ensure_eq!(seen.len(), ENTRIES, "every due entry leased by one of them");
    // Several workers taking small batches after the first leases expire.
    let later = now + 1000;
    let barrier = Arc::new(tokio::sync::Barrier::new(WORKERS));
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let s = s.clone();
        let barrier = barrier.clone();
        workers.push(tokio::spawn(async move {
            barrier.wait().await;
            let owner = format!("worker-{w}");
            let mut got = Vec::new();
            loop {
                let batch = s
                    .lease_due(later, &owner, 300, 3)
                    .await
                    .map_err(|e| format!("lease_due {owner}: {e}"))?;
                if batch.len() > 3 {
                    return Err(format!("{owner}: {} entries for max 3", batch.len()));
                }
                if batch.is_empty() {
                    break;
                }
                got.extend(batch.into_iter().map(|e| (e.id, owner.clone())));
            }
            Ok::<_, String>(got)
        }));
    }
    let mut owners: BTreeMap<QueueId, Vec<String>> = BTreeMap::new();
    for t in workers {
        for (id, owner) in join(t.await)? {
            owners.entry(id).or_default().push(owner);
        }
    }
    ensure!(
        owners.values().all(|o| o.len() == 1),
        "entries leased twice: {:?}",
        owners
            .iter()
            .filter(|(_, o)| o.len() > 1)
            .collect::<Vec<_>>()
    );
    ensure_eq!(owners.len(), ENTRIES);
    // Each holder can act on its own entries and nobody else's.
    for (id, o) in owners.iter().take(5) {
        let holder = o.first().found("holder")?;
        let other = if holder == "worker-0" {
            "worker-1"
        } else {
            "worker-0"
        };
        ensure_err!(
            s.remove_entry(*id, other).await,
            StoreError::Conflict(_),
            "non-holder remove"
        );
        s.remove_entry(*id, holder).await.ctx("holder remove")?;
    }
    ensure_eq!(s.list_queue().await.ctx("list_queue")?.len(), ENTRIES - 5);
    Ok(())
}

async fn queue_lease_due_and_max(s: Store) -> R {
    let now = crate::now();
    let due1 = s
        .enqueue(queued("d1", &["a@remote.example"], now - 100)?)
        .await
        .ctx("enqueue")?;
    let due2 = s
        .enqueue(queued("d2", &["a@remote.example"], now)?)
        .await
        .ctx("enqueue")?;
    let due3 = s
        .enqueue(queued("d3", &["a@remote.example"], now - 5)?)
        .await
        .ctx("enqueue")?;
    let future = s
        .enqueue(queued("f", &["a@remote.example"], now + 3600)?)
        .await
        .ctx("enqueue")?;
    ensure!(
        s.lease_due(now, "a", 100_000, 0)
            .await
            .ctx("lease_due 0")?
            .is_empty(),
        "max 0"
    );
    let first = s.lease_due(now, "a", 100_000, 2).await.ctx("lease_due")?;
    ensure_eq!(first.len(), 2, "at most max");
    let rest = s.lease_due(now, "b", 100_000, 10).await.ctx("lease_due")?;
    let mut got: Vec<QueueId> = first.iter().chain(&rest).map(|e| e.id).collect();
    got.sort();
    let mut want = vec![due1, due2, due3];
    want.sort();
    ensure_eq!(got, want, "the due entries, each once; not the future one");
    ensure!(
        s.lease_due(now, "c", 100_000, 10)
            .await
            .ctx("lease_due")?
            .is_empty(),
        "everything due is leased"
    );
    let f = s
        .lease_due(now + 3600, "c", 100_000, 10)
        .await
        .ctx("lease_due later")?;
    ensure_eq!(
        f.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![future],
        "due later"
    );
    let e = f.first().found("entry")?;
    ensure_eq!(e.recipients.len(), 1);
    ensure_eq!(e.size, small("f").len() as u64);
    Ok(())
}

async fn queue_lease_expiry(s: Store) -> R {
    let now = crate::now();
    let id = s
        .enqueue(queued("exp", &["a@remote.example"], now)?)
        .await
        .ctx("enqueue")?;
    ensure_eq!(
        s.lease_due(now, "a", 30, 10).await.ctx("lease_due")?.len(),
        1
    );
    ensure!(
        s.lease_due(now + 10, "b", 30, 10)
            .await
            .ctx("lease_due")?
            .is_empty(),
        "lease held"
    );
    let again = s
        .lease_due(now + 31, "b", 30, 10)
        .await
        .ctx("lease_due after expiry")?;
    ensure_eq!(
        again.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![id],
        "leasable again"
    );
    let recips = again.first().map(|e| e.recipients.clone()).found("entry")?;
    ensure_err!(
        s.update_entry(id, "a", &recips, now + 100).await,
        StoreError::Conflict(_),
        "the old holder lost it"
    );
    ensure_err!(
        s.remove_entry(id, "a").await,
        StoreError::Conflict(_),
        "the old holder lost it"
    );
    s.update_entry(id, "b", &recips, now + 100)
        .await
        .ctx("new holder updates")?;
    ensure!(s.queue_entry(id).await.ctx("queue_entry")?.is_some());
    Ok(())
}

async fn queue_update_entry_releases(s: Store) -> R {
    let now = crate::now();
    let id = s
        .enqueue(queued(
            "up",
            &["a@remote.example", "b@remote.example", "c@remote.example"],
            now,
        )?)
        .await
        .ctx("enqueue")?;
    let leased = s.lease_due(now, "w1", 300, 10).await.ctx("lease_due")?;
    let entry = leased.first().found("entry")?;
    let mut recips = entry.recipients.clone();
    if let [a, b, c] = recips.as_mut_slice() {
        a.status = RecipientStatus::Delivered("250 2.0.0 OK queued as 12345".into());
        a.attempts = 1;
        b.status = RecipientStatus::Failed("550 5.1.1 no such user — ünknown".into());
        b.attempts = 1;
        c.attempts = 1;
        c.last_error = Some("451 4.7.1 greylisted, try later".into());
    } else {
        return Err(format!("three recipients expected: {recips:?}"));
    }
    let next = now + 900;
    s.update_entry(id, "w1", &recips, next)
        .await
        .ctx("update_entry")?;
    let got = s.queue_entry(id).await.ctx("queue_entry")?.found("entry")?;
    ensure_eq!(got.recipients, recips, "recipient states saved");
    ensure_eq!(got.next_attempt, next);
    ensure_eq!(got.blob, entry.blob);
    ensure_eq!(got.created, entry.created);
    // The lease is released: nobody gets it before next_attempt, anybody after.
    ensure!(
        s.lease_due(now + 10, "w2", 300, 10)
            .await
            .ctx("lease_due")?
            .is_empty(),
        "not due before next_attempt"
    );
    let again = s
        .lease_due(next, "w2", 300, 10)
        .await
        .ctx("lease_due at next_attempt")?;
    ensure_eq!(again.iter().map(|e| e.id).collect::<Vec<_>>(), vec![id]);
    ensure_eq!(again.first().map(|e| e.recipients.clone()), Some(recips));
    // Released by update: the first holder cannot act on it any more.
    ensure_err!(
        s.remove_entry(id, "w1").await,
        StoreError::Conflict(_),
        "released lease"
    );
    Ok(())
}

async fn queue_non_owner_conflict(s: Store) -> R {
    let now = crate::now();
    let id = s
        .enqueue(queued("own", &["a@remote.example"], now)?)
        .await
        .ctx("enqueue")?;
    let not_leased = s.queue_entry(id).await.ctx("queue_entry")?.found("entry")?;
    ensure_err!(
        s.update_entry(id, "a", &not_leased.recipients, now + 10)
            .await,
        StoreError::Conflict(_),
        "update without a lease"
    );
    ensure_err!(
        s.remove_entry(id, "a").await,
        StoreError::Conflict(_),
        "remove without a lease"
    );
    let leased = s.lease_due(now, "a", 300, 1).await.ctx("lease_due")?;
    ensure_eq!(leased.len(), 1);
    let mut changed = not_leased.recipients.clone();
    if let Some(r) = changed.first_mut() {
        r.attempts = 7;
    }
    ensure_err!(
        s.update_entry(id, "b", &changed, now + 10).await,
        StoreError::Conflict(_),
        "update by a non-owner"
    );
    ensure_err!(
        s.remove_entry(id, "b").await,
        StoreError::Conflict(_),
        "remove by a non-owner"
    );
    let after = s.queue_entry(id).await.ctx("queue_entry")?.found("entry")?;
    ensure_eq!(
        after.recipients,
        not_leased.recipients,
        "nothing saved by the non-owner"
    );
    ensure_eq!(after.next_attempt, now);
    s.update_entry(id, "a", &changed, now + 10)
        .await
        .ctx("owner update")?;
    ensure_eq!(
        s.queue_entry(id)
            .await
            .ctx("queue_entry")?
            .map(|e| e.recipients),
        Some(changed)
    );
    Ok(())
}

async fn queue_remove_entry(s: Store) -> R {
    let now = crate::now();
    let keep = s
        .enqueue(queued("keep", &["a@remote.example"], now + 999)?)
        .await
        .ctx("enqueue")?;
    let id = s
        .enqueue(queued("rm", &["a@remote.example"], now)?)
        .await
        .ctx("enqueue")?;
    let leased = s.lease_due(now, "a", 300, 10).await.ctx("lease_due")?;
    ensure_eq!(leased.iter().map(|e| e.id).collect::<Vec<_>>(), vec![id]);
    s.remove_entry(id, "a").await.ctx("remove_entry")?;
    ensure_eq!(s.queue_entry(id).await.ctx("queue_entry")?, None);
    ensure_eq!(
        s.list_queue()
            .await
            .ctx("list_queue")?
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>(),
        vec![keep]
    );
    let r = s.remove_entry(id, "a").await;
    ensure!(r.is_err(), "removing twice: {r:?}");
    ensure!(
        s.lease_due(now + 5000, "b", 300, 10)
            .await
            .ctx("lease_due")?
            .iter()
            .all(|e| e.id == keep)
    );
    Ok(())
}

// --- logs -----------------------------------------------------------------------------------

fn log(
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

async fn log_append_and_query(s: Store) -> R {
    let org = s
        .create_org("Example", Edition::Basic)
        .await
        .ctx("create_org")?;
    let data = serde_json::json!({
        "from": "tom@example.com",
        "to": ["a@remote.example", "ü@例子.测试"],
        "size": 12345,
        "ok": true,
        "nested": {"reply": "250 2.0.0 OK", "ratio": 0.5, "none": null},
    });
    let id1 = s
        .append_log(log(
            LogKind::Mail,
            1000,
            Some(org.id),
            Some("tom@example.com"),
            data.clone(),
        ))
        .await
        .ctx("append_log")?;
    let id2 = s
        .append_log(log(
            LogKind::Login,
            1001,
            None,
            Some("tom@example.com"),
            serde_json::json!({"ok": false}),
        ))
        .await
        .ctx("append_log")?;
    let id3 = s
        .append_log(log(
            LogKind::Mail,
            1002,
            None,
            None,
            serde_json::json!("plain"),
        ))
        .await
        .ctx("append_log")?;
    ensure!(
        id1 < id2 && id2 < id3,
        "ids increase in append order: {id1} {id2} {id3}"
    );
    let mail = s
        .query_logs(&LogQuery::all(LogKind::Mail, 100))
        .await
        .ctx("query_logs")?;
    ensure_eq!(
        mail.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![id1, id3]
    );
    let first = mail.first().found("record")?;
    ensure_eq!(first.kind, LogKind::Mail);
    ensure_eq!(first.time, 1000);
    ensure_eq!(first.org, Some(org.id));
    ensure_eq!(first.account.as_deref(), Some("tom@example.com"));
    ensure_eq!(first.data, data, "JSON round trip");
    ensure_eq!(
        mail.get(1).map(|r| (r.org, r.account.clone())),
        Some((None, None))
    );
    let login = s
        .query_logs(&LogQuery::all(LogKind::Login, 100))
        .await
        .ctx("query_logs")?;
    ensure_eq!(login.iter().map(|r| r.id).collect::<Vec<_>>(), vec![id2]);
    let op = s
        .query_logs(&LogQuery::all(LogKind::Operation, 100))
        .await
        .ctx("query_logs")?;
    ensure!(op.is_empty());
    Ok(())
}

async fn log_query_filters(s: Store) -> R {
    let a = s.create_org("A", Edition::Basic).await.ctx("create_org")?;
    let b = s.create_org("B", Edition::Basic).await.ctx("create_org")?;
    let mut ids = Vec::new();
    for i in 0..20i64 {
        let org = if i % 2 == 0 { a.id } else { b.id };
        let account = if i % 4 == 0 {
            "tom@example.com"
        } else {
            "ann@example.com"
        };
        ids.push(
            s.append_log(log(
                LogKind::Operation,
                10_000 + i * 10,
                Some(org),
                Some(account),
                serde_json::json!({"i": i}),
            ))
            .await
            .ctx("append_log")?,
        );
    }
    s.append_log(log(
        LogKind::Mail,
        10_050,
        Some(a.id),
        Some("tom@example.com"),
        serde_json::json!({}),
    ))
    .await
    .ctx("append_log")?;
    let q = |org: Option<OrgId>,
             account: Option<&str>,
             since: Option<i64>,
             until: Option<i64>,
             limit: usize| LogQuery {
        kind: LogKind::Operation,
        org,
        account: account.map(str::to_owned),
        since,
        until,
        limit,
        ..LogQuery::all(LogKind::Operation, limit)
    };
    let idx = |recs: Vec<crate::log::LogRecord>| -> Vec<i64> {
        recs.iter()
            .filter_map(|r| r.data.get("i").and_then(serde_json::Value::as_i64))
            .collect()
    };
    let all = s
        .query_logs(&q(None, None, None, None, 1000))
        .await
        .ctx("query")?;
    ensure_eq!(all.len(), 20, "kind filters");
    ensure_eq!(
        all.iter().map(|r| r.id).collect::<Vec<_>>(),
        ids,
        "oldest first"
    );
    let by_org = s
        .query_logs(&q(Some(b.id), None, None, None, 1000))
        .await
        .ctx("query")?;
    ensure_eq!(idx(by_org), (1..20).step_by(2).collect::<Vec<i64>>(), "org");
    let by_acc = s
        .query_logs(&q(None, Some("tom@example.com"), None, None, 1000))
        .await
        .ctx("query")?;
    ensure_eq!(idx(by_acc), vec![0, 4, 8, 12, 16], "account");
    let range = s
        .query_logs(&q(None, None, Some(10_050), Some(10_100), 1000))
        .await
        .ctx("query")?;
    ensure_eq!(
        idx(range),
        vec![5, 6, 7, 8, 9],
        "since inclusive, until exclusive"
    );
    let limited = s
        .query_logs(&q(None, None, None, None, 3))
        .await
        .ctx("query")?;
    ensure_eq!(idx(limited), vec![0, 1, 2], "limit keeps the oldest");
    let combined = s
        .query_logs(&q(
            Some(a.id),
            Some("ann@example.com"),
            Some(10_030),
            None,
            2,
        ))
        .await
        .ctx("query")?;
    ensure_eq!(idx(combined), vec![6, 10], "filters combine");
    let none = s
        .query_logs(&q(None, Some("nobody@example.com"), None, None, 10))
        .await
        .ctx("query")?;
    ensure!(none.is_empty());
    Ok(())
}

async fn log_retention_purge(s: Store) -> R {
    for t in [100i64, 200, 300, 400] {
        s.append_log(log(
            LogKind::Mail,
            t,
            None,
            None,
            serde_json::json!({"t": t}),
        ))
        .await
        .ctx("append_log")?;
        s.append_log(log(
            LogKind::Login,
            t,
            None,
            None,
            serde_json::json!({"t": t}),
        ))
        .await
        .ctx("append_log")?;
    }
    let removed = s.purge_logs(LogKind::Mail, 300).await.ctx("purge_logs")?;
    ensure_eq!(removed, 2, "records at 100 and 200");
    let mail: Vec<i64> = s
        .query_logs(&LogQuery::all(LogKind::Mail, 100))
        .await
        .ctx("query_logs")?
        .iter()
        .map(|r| r.time)
        .collect();
    ensure_eq!(mail, vec![300, 400], "the record at `before` is kept");
    let login = s
        .query_logs(&LogQuery::all(LogKind::Login, 100))
        .await
        .ctx("query_logs")?;
    ensure_eq!(login.len(), 4, "other logs untouched");
    ensure_eq!(
        s.purge_logs(LogKind::Mail, 300).await.ctx("purge_logs")?,
        0,
        "idempotent"
    );
    ensure_eq!(
        s.purge_logs(LogKind::Operation, i64::MAX)
            .await
            .ctx("purge_logs")?,
        0
    );
    ensure_eq!(
        s.purge_logs(LogKind::Login, i64::MAX)
            .await
            .ctx("purge_logs")?,
        4
    );
    ensure!(
        s.query_logs(&LogQuery::all(LogKind::Login, 100))
            .await
            .ctx("query_logs")?
            .is_empty()
    );
    Ok(())
}

// --- maintenance ----------------------------------------------------------------------------

async fn check_healthy_store(s: Store) -> R {
    let fx = fixture(s).await?;
    let s = &fx.s;
    let empty = s.check(false).await.ctx("check empty")?;
    ensure!(
        !empty.is_damaged() && empty.problems.is_empty(),
        "fresh store: {empty:?}"
    );
    let jane = fx.account("jane").await?;
    let inbox = fx.inbox().await?;
    let archive = fx.mbox(fx.tom.id, "Archive").await?;
    let mut uids = Vec::new();
    for i in 0..10 {
        uids.push(
            fx.put(
                inbox.id,
                &message(&format!("h{i}"), 100 + i * 700),
                Flags::default(),
            )
            .await?
            .uid,
        );
    }
    s.copy_messages(inbox.id, &uids[..3], archive.id)
        .await
        .ctx("copy")?;
    s.move_messages(inbox.id, &uids[3..5], archive.id)
        .await
        .ctx("move")?;
    s.store_flags(
        inbox.id,
        &uids[5..7],
        &FlagChange::Add(flags("D", &[])),
        None,
    )
    .await
    .ctx("store_flags")?;
    s.expunge(inbox.id, None).await.ctx("expunge")?;
    s.deliver(
        message("both", 999),
        1_700_000_000,
        &[
            DeliveryTarget {
                mailbox: inbox.id,
                flags: Flags::default(),
            },
            DeliveryTarget {
                mailbox: fx.mbox(jane.id, INBOX).await?.id,
                flags: Flags::default(),
            },
        ],
    )
    .await
    .ctx("deliver")?;
    fx.create("Work").await?;
    fx.create("Work/项目").await?;
    s.rename_mailbox(fx.tom.id, "Work", "Job")
        .await
        .ctx("rename")?;
    s.enqueue(queued("out", &["a@remote.example"], crate::now())?)
        .await
        .ctx("enqueue")?;
    s.collect_garbage().await.ctx("collect_garbage")?;
    let report = s.check(false).await.ctx("check")?;
    ensure!(
        !report.is_damaged(),
        "healthy store reported damaged: {:?}",
        report.problems
    );
    ensure!(
        report.problems.is_empty(),
        "problems on a healthy store: {:?}",
        report.problems
    );
    let live = fx.all(inbox.id).await?.len() + fx.all(archive.id).await?.len() + 1;
    ensure!(
        report.messages >= live as u64,
        "examined {} messages, {live} exist",
        report.messages
    );
    ensure!(
        report.mailboxes >= 13,
        "examined {} mailboxes, 13 exist",
        report.mailboxes
    );
    let repaired = s.check(true).await.ctx("check --repair")?;
    ensure!(
        repaired.problems.is_empty(),
        "repair on a healthy store: {:?}",
        repaired.problems
    );
    // Nothing was lost.
    for uid in fx.uids(inbox.id).await? {
        ensure!(fx.read(inbox.id, uid).await?.is_some());
    }
    ensure_eq!(s.list_queue().await.ctx("list_queue")?.len(), 1);
    Ok(())
}
