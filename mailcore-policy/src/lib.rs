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
