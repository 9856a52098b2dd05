//! `mailcore-server inspect FILE`: parse a message and print its [`Summary`] as JSON.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::Context;
use mailcore::message::Message;
use mailcore::summary::Summary;

/// Largest file `inspect` reads (larger messages are refused before parsing).
pub const MAX_INSPECT_BYTES: u64 = 512 * 1024 * 1024;

/// Reads `path` (or standard input for `-`), parses it and writes the JSON summary to `out`.
/// Malformed messages still produce JSON (with warnings); only an unreadable file is an error.
pub fn run(path: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let mut raw = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_INSPECT_BYTES + 1)
            .read_to_end(&mut raw)
            .context("cannot read standard input")?;
    } else {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        file.take(MAX_INSPECT_BYTES + 1)
            .read_to_end(&mut raw)
            .with_context(|| format!("cannot read {}", path.display()))?;
    }
    if raw.len() as u64 > MAX_INSPECT_BYTES {
        anyhow::bail!(
            "{} is larger than {} bytes",
            path.display(),
            MAX_INSPECT_BYTES
        );
    }
    let summary = Summary::of(&Message::parse(raw));
    serde_json::to_writer_pretty(&mut *out, &summary).context("cannot write output")?;
    out.write_all(b"\n").context("cannot write output")?;
    Ok(())
}
