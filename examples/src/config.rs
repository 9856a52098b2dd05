//! The server's configuration file (TOML). Every setting has a default, so an empty file (or
//! none) gives the dev setup on 127.0.0.1. See `examples/mailcore.toml`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// Default data directory of the embedded store.
pub const DEFAULT_DATA_DIR: &str = "./mailcore-data";

/// The configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Our host name (greetings, `Received:`); default `localhost`.
    pub hostname: Option<String>,
    /// Storage settings.
    #[serde(default)]
    pub store: StoreConfig,
    /// TLS certificate; without it, a self-signed dev certificate is created in the data dir.
    pub tls: Option<TlsConfig>,
    /// SMTP settings.
    #[serde(default)]
    pub smtp: SmtpConfig,
    /// Inbound SPF/DKIM/DMARC verification.
    #[serde(default)]
    pub authentication: AuthenticationConfig,
    /// POP3 listeners.
    #[serde(default)]
    pub pop3: ReaderConfig,
    /// IMAP listeners.
    #[serde(default)]
    pub imap: ReaderConfig,
    /// The admin HTTP API.
    #[serde(default)]
    pub api: ApiConfig,
}

/// `[api]`: the admin HTTP API (JSON under `/api/v1/`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// On by default.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `IP:PORT` to listen on (default 127.0.0.1:8080).
    pub listen: Option<std::net::SocketAddr>,
    /// What domain verification expects.
    #[serde(default)]
    pub verification: VerificationConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            enabled: true,
            listen: None,
            verification: VerificationConfig::default(),
        }
    }
}

impl ApiConfig {
    /// The address to listen on.
    pub fn listen(&self) -> std::net::SocketAddr {
        self.listen
            .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8080)))
    }
}

/// `[[api.verification.mx]]`: an MX record customer domains must publish.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MxHost {
    /// The mail host.
    pub host: String,
    /// Its preference.
    pub priority: u16,
}

/// `[api.verification]`: the DNS set-up a customer domain must have to be verified.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationConfig {
    /// A recursive resolver `IP:PORT`; the system's resolvers by default.
    pub nameserver: Option<std::net::SocketAddr>,
    /// The MX records, exactly (default: the host name, priority 10).
    pub mx: Option<Vec<MxHost>>,
    /// The domain SPF records must include (default `spf.<hostname>`).
    pub spf_include: Option<String>,
    /// The DKIM selector whose key must be published (default `mailcore`).
    pub dkim_selector: Option<String>,
    /// Where ownership CNAMEs point: `<token>.<verify_target>` (default `verify.<hostname>`).
    pub verify_target: Option<String>,
    /// Deadline of one DNS look-up in seconds (default 5).
    pub timeout_secs: Option<u64>,
}

/// `[[pop3.listeners]]` / `[[imap.listeners]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderListener {
    /// `IP:PORT`.
    pub address: std::net::SocketAddr,
    /// Implicit TLS from the first byte (POP3S, IMAPS) instead of STLS/STARTTLS.
    #[serde(default)]
    pub implicit_tls: bool,
}

/// `[pop3]` and `[imap]`: listeners of the mail-reading protocols.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderConfig {
    /// Listeners; the defaults are POP3 127.0.0.1:2110 (STLS) and 2995 (implicit TLS), IMAP
    /// 127.0.0.1:2143 (STARTTLS) and 2993 (implicit TLS). An empty list disables the protocol.
    pub listeners: Option<Vec<ReaderListener>>,
    /// Most simultaneous connections per client IP (default 20).
    pub max_connections_per_ip: Option<usize>,
    /// Most simultaneous connections in all (default 1,000; raise it for many idle IMAP
    /// clients).
    pub max_connections: Option<usize>,
}

impl ReaderConfig {
    /// The listeners to open, given the protocol's default ports (plain, implicit TLS).
    pub fn listeners(&self, defaults: (u16, u16)) -> Vec<(std::net::SocketAddr, bool)> {
        match &self.listeners {
            Some(l) => l.iter().map(|l| (l.address, l.implicit_tls)).collect(),
            None => vec![
                (
                    std::net::SocketAddr::from(([127, 0, 0, 1], defaults.0)),
                    false,
                ),
                (
                    std::net::SocketAddr::from(([127, 0, 0, 1], defaults.1)),
                    true,
                ),
            ],
        }
    }
}

/// `[authentication]`: SPF/DKIM/DMARC verification of inbound mail, recorded in an
/// `Authentication-Results:` header.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticationConfig {
    /// On by default.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// A recursive resolver `IP:PORT`; the system's resolvers by default.
    pub nameserver: Option<std::net::SocketAddr>,
    /// DNS deadline per message in seconds (default 5).
    pub timeout_secs: Option<u64>,
}

fn yes() -> bool {
    true
}

impl Default for AuthenticationConfig {
    fn default() -> Self {
        AuthenticationConfig {
            enabled: true,
            nameserver: None,
            timeout_secs: None,
        }
    }
}

/// `[store]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// A directory (embedded store) or a `postgres://` URL.
    pub location: Option<String>,
}

/// `[tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub certificate: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// What an SMTP listener is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerKind {
    /// Inbound MX (no AUTH).
    Mx,
    /// Submission with STARTTLS + AUTH.
    Submission,
    /// Submission over implicit TLS.
    Submissions,
}

/// `[[smtp.listeners]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    /// `IP:PORT`.
    pub address: std::net::SocketAddr,
    /// Its kind.
    pub kind: ListenerKind,
}

/// `[smtp]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Listeners; default MX 127.0.0.1:2525, submission 127.0.0.1:2587, submissions
    /// 127.0.0.1:2465.
    pub listeners: Option<Vec<Listener>>,
    /// CIDR networks the MX listener relays for (none by default).
    #[serde(default)]
    pub trusted_networks: Vec<String>,
    /// Largest message in bytes.
    pub max_message_size: Option<usize>,
    /// Most recipients per message.
    pub max_recipients: Option<usize>,
    /// Most simultaneous connections per client IP (default 20).
    pub max_connections_per_ip: Option<usize>,
    /// Most simultaneous connections in all (default 1,000).
    pub max_connections: Option<usize>,
    /// Idle timeout in seconds.
    pub idle_timeout_secs: Option<u64>,
}

impl SmtpConfig {
    /// The listeners to open.
    pub fn listeners(&self) -> Vec<(std::net::SocketAddr, ListenerKind)> {
        match &self.listeners {
            Some(l) => l.iter().map(|l| (l.address, l.kind)).collect(),
            None => [
                (2525, ListenerKind::Mx),
                (2587, ListenerKind::Submission),
                (2465, ListenerKind::Submissions),
            ]
            .into_iter()
            .map(|(port, kind)| (std::net::SocketAddr::from(([127, 0, 0, 1], port)), kind))
            .collect(),
        }
    }
}

impl Config {
    /// Reads and parses a configuration file.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("invalid configuration in {}", path.display()))
    }

    /// The host name.
    pub fn hostname(&self) -> String {
        self.hostname
            .clone()
            .unwrap_or_else(|| "localhost".to_owned())
    }
}

/// Where the store is: `--data-dir` wins, then the config file's `[store] location`, then
/// [`DEFAULT_DATA_DIR`].
pub fn store_location(data_dir: Option<&Path>, config: Option<&Config>) -> String {
    if let Some(d) = data_dir {
        return d.display().to_string();
    }
    config
        .and_then(|c| c.store.location.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR).display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let c: Config = toml::from_str("[store]\nlocation = \"postgres://x/y\"\n").unwrap();
        assert_eq!(store_location(None, Some(&c)), "postgres://x/y");
        assert_eq!(store_location(Some(Path::new("/d")), Some(&c)), "/d");
        assert_eq!(store_location(None, None), DEFAULT_DATA_DIR);
        assert!(toml::from_str::<Config>("[stor]\n").is_err());
    }

    #[test]
    fn the_sample_file_parses() {
        let c = Config::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/mailcore.toml"
        )))
        .unwrap();
        assert_eq!(c.smtp.listeners().len(), 3);
        assert_eq!(c.smtp.listeners()[0].1, ListenerKind::Mx);
        assert_eq!(SmtpConfig::default().listeners()[1].0.port(), 2587);
        assert!(c.api.enabled);
        assert_eq!(c.api.listen().to_string(), "127.0.0.1:8080");
        let v = &c.api.verification;
        assert_eq!(v.nameserver.map(|n| n.port()), None);
        assert_eq!(v.dkim_selector.as_deref(), Some("mailcore"));
    }
}
