//! Versioned schema migrations, run at connect.
//!
//! Each migration runs once, in one transaction with every other pending one, under a
//! transaction-scoped advisory lock keyed by the schema name, so processes starting at the same
//! time apply them exactly once. New versions are appended to [`MIGRATIONS`]; applied ones are
//! never edited.

use super::{exec, query_one};
use crate::error::{Result, StoreError};

/// `(version, SQL)` in order.
const MIGRATIONS: &[(i32, &str)] = &[(1, V1), (2, V2)];

/// Version 2: administrative records; log index for per-organisation queries.
const V2: &str = r#"
CREATE TABLE records (
    kind text NOT NULL,
    key text NOT NULL,
    org bigint,
    version bigint NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX records_org ON records (kind, org, key);
CREATE INDEX logs_org ON logs (kind, org, time);
CREATE INDEX logs_account ON logs (kind, account, time);
"#;

/// Version 1: everything.
const V1: &str = r#"
CREATE TABLE meta (
    key text PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO meta (key, value) VALUES ('uid_validity', 0);

CREATE TABLE blobs (
    id bytea PRIMARY KEY,
    data bytea NOT NULL,
    size bigint NOT NULL
);

CREATE TABLE orgs (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    edition text NOT NULL,
    created bigint NOT NULL
);

CREATE TABLE domains (
    name text PRIMARY KEY,
    display text NOT NULL,
    org bigint NOT NULL REFERENCES orgs (id),
    verified boolean NOT NULL DEFAULT false,
    created bigint NOT NULL
);
CREATE INDEX domains_org ON domains (org);

-- The one address namespace: every account, alias and group address has a row here.
CREATE TABLE addresses (
    key text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('account', 'alias', 'group')),
    domain text NOT NULL REFERENCES domains (name),
    account bigint
);
CREATE INDEX addresses_domain ON addresses (domain);
CREATE INDEX addresses_account ON addresses (account);

CREATE TABLE accounts (
    id bigserial PRIMARY KEY,
    org bigint NOT NULL REFERENCES orgs (id),
    address text NOT NULL,
    address_key text NOT NULL UNIQUE,
    display_name text,
    password_hash text,
    enabled boolean NOT NULL DEFAULT true,
    quota_bytes bigint,
    kind text NOT NULL,
    created bigint NOT NULL
);
CREATE INDEX accounts_org ON accounts (org);

CREATE TABLE mailboxes (
    id bigserial PRIMARY KEY,
    account bigint NOT NULL REFERENCES accounts (id),
    name text NOT NULL,
    role text,
    subscribed boolean NOT NULL DEFAULT false,
    uid_validity bigint NOT NULL,
    uid_next bigint NOT NULL DEFAULT 1,
    highest_modseq bigint NOT NULL DEFAULT 1,
    UNIQUE (account, name)
);

CREATE TABLE messages (
    mailbox bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    uid bigint NOT NULL,
    modseq bigint NOT NULL,
    flags bigint NOT NULL,
    keywords text NOT NULL,
    internal_date bigint NOT NULL,
    size bigint NOT NULL,
    blob bytea NOT NULL,
    PRIMARY KEY (mailbox, uid)
);
CREATE INDEX messages_modseq ON messages (mailbox, modseq);
CREATE INDEX messages_blob ON messages (blob);

CREATE TABLE expunged (
    mailbox bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    uid bigint NOT NULL,
    modseq bigint NOT NULL,
    PRIMARY KEY (mailbox, uid)
);
CREATE INDEX expunged_modseq ON expunged (mailbox, modseq);

CREATE TABLE aliases (
    address_key text PRIMARY KEY,
    address text NOT NULL,
    account bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE
);
CREATE INDEX aliases_account ON aliases (account);

CREATE TABLE groups (
    address_key text PRIMARY KEY,
    address text NOT NULL,
    org bigint NOT NULL REFERENCES orgs (id),
    name text,
    members text[] NOT NULL,
    representatives text[] NOT NULL
);
CREATE INDEX groups_org ON groups (org);

CREATE TABLE queue (
    id bigserial PRIMARY KEY,
    sender text NOT NULL,
    recipients text NOT NULL,
    blob bytea NOT NULL,
    size bigint NOT NULL,
    created bigint NOT NULL,
    next_attempt bigint NOT NULL,
    lease_owner text,
    lease_until bigint
);
CREATE INDEX queue_due ON queue (next_attempt);
CREATE INDEX queue_blob ON queue (blob);

CREATE TABLE logs (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    time bigint NOT NULL,
    org bigint,
    account text,
    data text NOT NULL
);
CREATE INDEX logs_kind_time ON logs (kind, time);
"#;

/// Creates the schema if missing and applies pending migrations.
pub(super) async fn migrate(client: &mut deadpool_postgres::Client, schema: &str) -> Result<()> {
    let tx = client.transaction().await.map_err(super::db_error)?;
    let key = format!("mailcore-migrate:{schema}");
    exec(&tx, "SELECT pg_advisory_xact_lock(hashtext($1))", &[&key]).await?;
    // The schema name was checked to need no quoting.
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}; SET LOCAL search_path TO {schema};
         CREATE TABLE IF NOT EXISTS schema_migrations (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(super::db_error)?;
    let row = query_one(
        &tx,
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        &[],
    )
    .await?;
    let current: i32 = super::col(&row, 0)?;
    let latest = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    if current > latest {
        return Err(StoreError::Invalid(format!(
            "schema {schema} is at version {current}, newer than this program's {latest}"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql).await.map_err(super::db_error)?;
        exec(
            &tx,
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[version],
        )
        .await?;
    }
    tx.commit().await.map_err(super::db_error)?;
    Ok(())
}

/// The latest schema version this program knows.
#[cfg(test)]
pub(super) fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}
