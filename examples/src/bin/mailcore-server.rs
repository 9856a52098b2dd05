//! `mailcore-server`: the reference server composed from the mailcore crates.
//!
//! Subcommands grow with the crates; today:
//! - `inspect FILE` parses a message file and prints a JSON summary of it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The mailcore reference server.
#[derive(Parser, Debug)]
#[command(name = "mailcore-server", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse a message file (RFC 5322/MIME) and print a JSON summary: decoded subject,
    /// addresses, date, message id, leaf parts, text and HTML bodies, and parser warnings.
    Inspect {
        /// The message file (`-` for standard input).
        file: PathBuf,
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
    match cli.command {
        Command::Inspect { file } => {
            mailcore_examples::inspect::run(&file, &mut std::io::stdout().lock())
        }
    }
}
