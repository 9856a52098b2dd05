//! Provisioning subcommands: `domain`, `account`, `alias`, `group`, `token`, `store check`. The
//! directory changes call the same [`Admin`] operations as the admin HTTP API, as the
//! deployment operator ([`Caller::operator`]), so the same rules apply (alias limit, quotas,
//! edition limits) and every change is in the operation log.

use std::io::Write;

use anyhow::Context;
use mailcore::address::{Domain, EmailAddress};
use mailcore_store::Backend;
use mailcore_store::admin::{Admin, Caller, GroupSpec, NewMember};
use mailcore_store::directory::Edition;

fn address(s: &str) -> anyhow::Result<EmailAddress> {
    s.parse().with_context(|| format!("invalid address {s:?}"))
}

/// `domain add NAME [--org ORG]`: [`Admin::add_domain`] as the operator, in the organisation
/// named `org` (created, professional edition, when missing: `Admin::create_org` needs a
/// creator account, which a CLI-provisioned deployment does not have).
pub async fn domain_add(
    admin: &Admin,
    name: &str,
    org: &str,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let domain: Domain = name
        .parse()
        .with_context(|| format!("invalid domain {name:?}"))?;
    let store = admin.store();
    let org = match store.org_by_name(org).await? {
        Some(o) => o,
        None => store.create_org(org, Edition::Professional).await?,
    };
    admin
        .add_domain(&Caller::operator(), org.id, &domain.to_string())
        .await?;
    writeln!(out, "added domain {domain} (A-label {})", domain.as_ascii())?;
    Ok(())
}

/// `domain list`.
pub async fn domain_list(store: &dyn Backend, out: &mut impl Write) -> anyhow::Result<()> {
    for d in store.list_domains(None).await? {
        writeln!(
            out,
            "{}\t{}",
            d.name,
            if d.verified { "verified" } else { "unverified" }
        )?;
    }
    Ok(())
}

/// `account add ADDRESS --password PW [--name NAME] [--quota BYTES]`:
/// [`Admin::create_member`] as the operator (without `--quota`, the edition's member quota).
pub async fn account_add(
    admin: &Admin,
    addr: &str,
    password: &str,
    name: Option<&str>,
    quota: Option<u64>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let address = address(addr)?;
    let org = admin
        .store()
        .domain(address.domain())
        .await?
        .map(|d| d.org)
        .ok_or_else(|| anyhow::anyhow!("domain {} not found (add it first)", address.domain()))?;
    let created = admin
        .create_member(
            &Caller::operator(),
            org,
            NewMember {
                local_part: address.local_part().to_string(),
                domain: Some(address.domain().to_string()),
                display_name: name.map(str::to_owned),
                password: Some(password.to_owned()),
                quota_bytes: quota,
                ..NewMember::default()
            },
        )
        .await?;
    writeln!(out, "added account {}", created.member.address)?;
    Ok(())
}

/// `account list`: address, display name, state, quota and usage, aliases.
pub async fn account_list(store: &dyn Backend, out: &mut impl Write) -> anyhow::Result<()> {
    for a in store.list_accounts(None).await? {
        let usage = store.quota_usage(a.id).await?;
        let aliases: Vec<String> = store
            .aliases(a.id)
            .await?
            .iter()
            .map(ToString::to_string)
            .collect();
        writeln!(
            out,
            "{}\t{}\t{}\t{} bytes / {}\t{}",
            a.address,
            a.display_name.as_deref().unwrap_or("-"),
            if a.enabled { "enabled" } else { "disabled" },
            usage.bytes,
            a.quota_bytes
                .map_or("unlimited".to_owned(), |q| format!("{q} bytes")),
            if aliases.is_empty() {
                "-".to_owned()
            } else {
                aliases.join(",")
            },
        )?;
    }
    Ok(())
}

/// `alias add ALIAS ADDRESS`: [`Admin::add_alias`] as the operator (at most five aliases per
/// account).
pub async fn alias_add(
    admin: &Admin,
    alias: &str,
    target: &str,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (alias, target) = (address(alias)?, address(target)?);
    let account = account_id(admin.store().as_ref(), &target.to_string()).await?;
    admin
        .add_alias(&Caller::operator(), account, &alias.to_string())
        .await?;
    writeln!(out, "added alias {alias} -> {target}")?;
    Ok(())
}

/// `group add ADDRESS --member ADDR... [--representative ADDR...] [--name NAME]`:
/// [`Admin::create_group`] as the operator.
pub async fn group_add(
    admin: &Admin,
    addr: &str,
    name: Option<&str>,
    members: &[String],
    representatives: &[String],
    out: &mut impl Write,
) -> anyhow::Result<()> {
    for m in members.iter().chain(representatives) {
        address(m)?;
    }
    let g = admin
        .create_group(
            &Caller::operator(),
            GroupSpec {
                address: address(addr)?.to_string(),
                name: name.map(str::to_owned),
                members: members.to_vec(),
                departments: Vec::new(),
                representatives: representatives.to_vec(),
            },
        )
        .await?;
    writeln!(
        out,
        "added group {} with {} member(s)",
        g.address,
        g.members.len()
    )?;
    Ok(())
}

/// `token create (--admin ADDRESS | --operator) [--name NAME]`: prints a new bearer token for
/// the admin HTTP API (shown once; only its digest is stored).
pub async fn token_create(
    admin: &Admin,
    administrator: Option<&str>,
    name: &str,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let account = match administrator {
        Some(a) => Some(account_id(admin.store().as_ref(), a).await?),
        None => None,
    };
    let token = admin.create_token(account, name).await?;
    writeln!(out, "{token}")?;
    Ok(())
}

/// `token revoke`: revokes a token; an unknown token is an error.
pub async fn token_revoke(admin: &Admin, token: &str, out: &mut impl Write) -> anyhow::Result<()> {
    if !admin.revoke_token(token.trim()).await? {
        anyhow::bail!("no such token");
    }
    writeln!(out, "revoked")?;
    Ok(())
}

async fn account_id(
    store: &dyn Backend,
    addr: &str,
) -> anyhow::Result<mailcore_store::mailbox::AccountId> {
    let a = address(addr)?;
    match store.resolve(&a).await? {
        mailcore_store::directory::Resolved::Account(acct)
        | mailcore_store::directory::Resolved::Alias(acct) => Ok(acct.id),
        _ => anyhow::bail!("account {addr} not found"),
    }
}

async fn mailbox_id(
    store: &dyn Backend,
    addr: &str,
    mailbox: &str,
) -> anyhow::Result<mailcore_store::mailbox::MailboxId> {
    let account = account_id(store, addr).await?;
    match store.mailbox(account, mailbox).await? {
        Some(m) => Ok(m.id),
        None => anyhow::bail!("no mailbox {mailbox:?} for {addr}"),
    }
}

/// `mailbox list ADDRESS`: name, role, messages, unseen, size, UIDVALIDITY, UIDNEXT.
pub async fn mailbox_list(
    store: &dyn Backend,
    addr: &str,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let account = account_id(store, addr).await?;
    for m in store.list_mailboxes(account).await? {
        writeln!(
            out,
            "{}\t{}\t{} messages\t{} unseen\t{} bytes\tuidvalidity {}\tuidnext {}",
            m.name,
            m.role.map_or("-", |r| r.attribute()),
            m.messages,
            m.unseen,
            m.size,
            m.uid_validity,
            m.uid_next.0
        )?;
    }
    Ok(())
}

/// `message list ADDRESS [--mailbox NAME]`: UID, size, flags, decoded subject.
pub async fn message_list(
    store: &dyn Backend,
    addr: &str,
    mailbox: &str,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let id = mailbox_id(store, addr, mailbox).await?;
    for m in store.messages(id, 1..=u32::MAX).await? {
        let raw = store.read_message(id, m.uid).await?.unwrap_or_default();
        let subject = mailcore::message::Message::parse(raw)
            .subject()
            .unwrap_or_default();
        let mut flags = Vec::new();
        for (on, name) in [
            (m.flags.seen, "\\Seen"),
            (m.flags.answered, "\\Answered"),
            (m.flags.flagged, "\\Flagged"),
            (m.flags.deleted, "\\Deleted"),
            (m.flags.draft, "\\Draft"),
        ] {
            if on {
                flags.push(name.to_owned());
            }
        }
        flags.extend(m.flags.keywords.iter().cloned());
        writeln!(
            out,
            "{}\t{}\t{}\t{}",
            m.uid.0,
            m.size,
            flags.join(" "),
            subject
        )?;
    }
    Ok(())
}

/// `message get ADDRESS UID [--mailbox NAME]`: the raw message.
pub async fn message_get(
    store: &dyn Backend,
    addr: &str,
    mailbox: &str,
    uid: u32,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let id = mailbox_id(store, addr, mailbox).await?;
    match store
        .read_message(id, mailcore_store::mailbox::Uid(uid))
        .await?
    {
        Some(raw) => Ok(out.write_all(&raw)?),
        None => anyhow::bail!("no message {uid} in {mailbox}"),
    }
}

/// `store check [--repair]`: prints the report as JSON; fails when damage remains.
pub async fn store_check(
    store: &dyn Backend,
    repair: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let report = store.check(repair).await?;
    serde_json::to_writer_pretty(&mut *out, &report)?;
    writeln!(out)?;
    if report.is_damaged() {
        anyhow::bail!(
            "store is damaged: {} problem(s){}",
            report.problems.iter().filter(|p| !p.repaired).count(),
            if repair {
                " could not be repaired"
            } else {
                "; run `store check --repair`"
            }
        );
    }
    Ok(())
}
