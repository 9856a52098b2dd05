//! Provisioning subcommands: `domain`, `account`, `alias`, `group`, `store check`. Each calls
//! the library operation in `mailcore_store::provision` on the configured store.

use std::io::Write;

use anyhow::Context;
use mailcore::address::{Domain, EmailAddress};
use mailcore_store::Backend;

fn address(s: &str) -> anyhow::Result<EmailAddress> {
    s.parse().with_context(|| format!("invalid address {s:?}"))
}

/// `domain add NAME [--org ORG]`.
pub async fn domain_add(
    store: &dyn Backend,
    name: &str,
    org: &str,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let domain: Domain = name
        .parse()
        .with_context(|| format!("invalid domain {name:?}"))?;
    let rec = mailcore_store::provision::add_domain(store, org, &domain).await?;
    writeln!(
        out,
        "added domain {} (A-label {})",
        rec.name,
        rec.name.as_ascii()
    )?;
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

/// `account add ADDRESS --password PW [--name NAME] [--quota BYTES]`.
pub async fn account_add(
    store: &dyn Backend,
    addr: &str,
    password: &str,
    name: Option<&str>,
    quota: Option<u64>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let a = mailcore_store::provision::add_account(store, &address(addr)?, password, name, quota)
        .await?;
    writeln!(out, "added account {}", a.address)?;
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

/// `alias add ALIAS ADDRESS`.
pub async fn alias_add(
    store: &dyn Backend,
    alias: &str,
    target: &str,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (alias, target) = (address(alias)?, address(target)?);
    mailcore_store::provision::add_alias(store, &alias, &target).await?;
    writeln!(out, "added alias {alias} -> {target}")?;
    Ok(())
}

/// `group add ADDRESS --member ADDR... [--representative ADDR...] [--name NAME]`.
pub async fn group_add(
    store: &dyn Backend,
    addr: &str,
    name: Option<&str>,
    members: &[String],
    representatives: &[String],
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let members = members
        .iter()
        .map(|m| address(m))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let reps = representatives
        .iter()
        .map(|m| address(m))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let g =
        mailcore_store::provision::add_group(store, &address(addr)?, name, &members, &reps).await?;
    writeln!(
        out,
        "added group {} with {} member(s)",
        g.address,
        g.members.len()
    )?;
    Ok(())
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
