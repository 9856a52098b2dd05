//! `mailcore-server`: the reference server composed from the mailcore crates.
//!
//! Global flags `--data-dir DIR` and `--config FILE` choose the store and are accepted before
//! or after the subcommand.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mailcore_examples::{config, inspect, provision, serve};

/// The mailcore reference server.
#[derive(Parser, Debug)]
#[command(name = "mailcore-server", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
struct Global {
    /// Directory of the embedded store (default ./mailcore-data).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Configuration file (TOML); see examples/mailcore.toml.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse a message file (RFC 5322/MIME) and print a JSON summary: decoded subject,
    /// addresses, date, message id, leaf parts, text and HTML bodies, and parser warnings.
    Inspect {
        /// The message file (`-` for standard input).
        file: PathBuf,
    },
    /// Run the server: SMTP MX on 127.0.0.1:2525, submission on 2587 (STARTTLS) and 2465
    /// (implicit TLS), POP3, IMAP and the admin HTTP API on 127.0.0.1:8080 unless the config
    /// file says otherwise.
    Serve,
    /// Mail domains.
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Accounts (mailboxes of members).
    #[command(subcommand)]
    Account(AccountCmd),
    /// Alias addresses of accounts.
    #[command(subcommand)]
    Alias(AliasCmd),
    /// Mail groups (distribution lists).
    #[command(subcommand)]
    Group(GroupCmd),
    /// Bearer tokens of the admin HTTP API.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Store maintenance.
    #[command(subcommand)]
    Store(StoreCmd),
    /// Look at an account's mailboxes.
    #[command(subcommand)]
    Mailbox(MailboxCmd),
    /// Look at messages in a mailbox.
    #[command(subcommand)]
    Message(MessageCmd),
}

#[derive(Subcommand, Debug)]
enum MailboxCmd {
    /// List an account's mailboxes with their counters.
    List {
        /// The account's address.
        address: String,
    },
}

#[derive(Subcommand, Debug)]
enum MessageCmd {
    /// List messages: UID, size, flags, subject.
    List {
        /// The account's address.
        address: String,
        /// The mailbox (default INBOX).
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
    },
    /// Write one message's raw bytes to standard output.
    Get {
        /// The account's address.
        address: String,
        /// The message UID.
        uid: u32,
        /// The mailbox (default INBOX).
        #[arg(long, default_value = "INBOX")]
        mailbox: String,
    },
}

#[derive(Subcommand, Debug)]
enum DomainCmd {
    /// Add a domain (U-label or A-label form).
    Add {
        /// The domain, e.g. example.com.
        name: String,
        /// Organisation that owns it (created if missing).
        #[arg(long, default_value = mailcore_store::provision::DEFAULT_ORG)]
        org: String,
    },
    /// List domains.
    List,
}

#[derive(Subcommand, Debug)]
enum AccountCmd {
    /// Add an account on an existing domain.
    Add {
        /// Its address.
        address: String,
        /// Its password (stored as an argon2id hash).
        #[arg(long)]
        password: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Quota in bytes (default unlimited).
        #[arg(long)]
        quota: Option<u64>,
    },
    /// List accounts.
    List,
}

#[derive(Subcommand, Debug)]
enum AliasCmd {
    /// Add ALIAS as another address of the account ADDRESS.
    Add {
        /// The alias address.
        alias: String,
        /// The account's address.
        address: String,
    },
}

#[derive(Subcommand, Debug)]
enum GroupCmd {
    /// Add a group.
    Add {
        /// The group's address.
        address: String,
        /// A member address (repeatable; local or external).
        #[arg(long = "member", required = true)]
        members: Vec<String>,
        /// An account that may send as the group (repeatable).
        #[arg(long = "representative")]
        representatives: Vec<String>,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum TokenCmd {
    /// Create a token and print it (it is shown once).
    Create {
        /// The administrator (address) the token acts as.
        #[arg(
            long,
            value_name = "ADDRESS",
            required_unless_present = "operator",
            conflicts_with = "operator"
        )]
        admin: Option<String>,
        /// A deployment-operator token, acting across organisations.
        #[arg(long)]
        operator: bool,
        /// A name to recognise the token by.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// Revoke a token: calls made with it fail from now on.
    Revoke {
        /// The token.
        token: String,
    },
}

#[derive(Subcommand, Debug)]
enum StoreCmd {
    /// Check integrity: every message's blob present and intact, counters consistent.
    /// Exits non-zero with a report when damage is found.
    Check {
        /// Fix what can be fixed.
        #[arg(long)]
        repair: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailcore-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let out = &mut std::io::stdout().lock();
    if let Command::Inspect { file } = &cli.command {
        return inspect::run(file, out);
    }
    let config = cli
        .global
        .config
        .as_deref()
        .map(config::Config::load)
        .transpose()?;
    let location = config::store_location(cli.global.data_dir.as_deref(), config.as_ref());
    let config = config.unwrap_or_default();
    // Dev TLS material lives next to an embedded store, else in the default data dir.
    let data_dir = match &cli.global.data_dir {
        Some(d) => d.clone(),
        None if !location.starts_with("postgres") => PathBuf::from(&location),
        None => PathBuf::from(config::DEFAULT_DATA_DIR),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let store = mailcore_store::open(&location)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open store {location}: {e}"))?;
        let store_ref = store.as_ref();
        let admin = mailcore_store::admin::Admin::new(
            store.clone(),
            mailcore_store::admin::AdminConfig::default(),
        );
        match cli.command {
            Command::Inspect { .. } => Ok(()),
            Command::Serve => serve::run(&config, store.clone(), &data_dir).await,
            Command::Domain(DomainCmd::Add { name, org }) => {
                provision::domain_add(&admin, &name, &org, out).await
            }
            Command::Domain(DomainCmd::List) => provision::domain_list(store_ref, out).await,
            Command::Account(AccountCmd::Add {
                address,
                password,
                name,
                quota,
            }) => {
                provision::account_add(&admin, &address, &password, name.as_deref(), quota, out)
                    .await
            }
            Command::Account(AccountCmd::List) => provision::account_list(store_ref, out).await,
            Command::Alias(AliasCmd::Add { alias, address }) => {
                provision::alias_add(&admin, &alias, &address, out).await
            }
            Command::Group(GroupCmd::Add {
                address,
                members,
                representatives,
                name,
            }) => {
                provision::group_add(
                    &admin,
                    &address,
                    name.as_deref(),
                    &members,
                    &representatives,
                    out,
                )
                .await
            }
            Command::Mailbox(MailboxCmd::List { address }) => {
                provision::mailbox_list(store_ref, &address, out).await
            }
            Command::Message(MessageCmd::List { address, mailbox }) => {
                provision::message_list(store_ref, &address, &mailbox, out).await
            }
            Command::Message(MessageCmd::Get {
                address,
                uid,
                mailbox,
            }) => provision::message_get(store_ref, &address, &mailbox, uid, out).await,
            Command::Token(TokenCmd::Create {
                admin: administrator,
                operator: _,
                name,
            }) => provision::token_create(&admin, administrator.as_deref(), &name, out).await,
            Command::Token(TokenCmd::Revoke { token }) => {
                provision::token_revoke(&admin, &token, out).await
            }
            Command::Store(StoreCmd::Check { repair }) => {
                provision::store_check(store_ref, repair, out).await
            }
        }
    })
}
