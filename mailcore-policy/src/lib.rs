//! # mailcore-policy
//!
//! The mail-flow policies of an enterprise mail service, each a [`mailcore::hook::Hook`]:
//! block and allow lists (organisation and member level, with a documented resolution order),
//! outbound restriction, send rate limits, subject keyword filter, catch-all transfer,
//! approval (moderation) queues, backup rules, journaling to a tamper-evident archive, recall
//! of sent mail, deletion of received mail, SPF/DKIM/DMARC verification results and DKIM
//! signing, and spam verdicts from pluggable filters.
//!
//! Policies only answer events with [`mailcore::hook::Action`]s; the sessions obey the
//! resulting decision, so a policy never touches a socket:
//!
//! ```text
//!  session ─► HookChain ─► [allow/block] ─► [keyword] ─► [rate limit] ─► … ─► Decision
//! ```
//!
//! ## Policies
//!
//! - [`authentication`]: verifies SPF, DKIM and DMARC on inbound mail (at
//!   [`Stage::Message`](mailcore::hook::Stage::Message)) and adds an `Authentication-Results:`
//!   header (RFC 8601). It never refuses by itself; its [`Verdicts`](authentication::Verdicts)
//!   are there for a later enforcement policy. Unlike the other policies it does DNS
//!   look-ups, each message bounded by one deadline.
//!
//! ```no_run
//! use mailcore::hook::HookChain;
//! use mailcore_policy::authentication::{AuthenticationHook, Resolver};
//!
//! # fn main() -> Result<(), mailcore_policy::authentication::AuthenticationError> {
//! let mut chain = HookChain::new();
//! chain.push(AuthenticationHook::new("mx.example.org", Resolver::System)?);
//! # Ok(())
//! # }
//! ```
//!
//! ## Domain verification
//!
//! [`domain_verify`] is not a hook but the check behind adding a customer domain: with real
//! DNS it verifies the MX records (missing, extra, wrong priority), the ownership token (CNAME
//! or TXT), the SPF include and the DKIM key, and returns a
//! [`VerificationReport`](domain_verify::VerificationReport) with a structured result per
//! check rather than a boolean. Each look-up is bounded by a timeout.

pub mod authentication;
pub mod domain_verify;
