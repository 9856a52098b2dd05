//! The SMTP command parser on arbitrary lines: never panics, and whatever parses formats to a
//! line that parses back to the same command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcore_smtp::command::parse;

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = parse(data) {
        let line = cmd.to_string();
        assert_eq!(parse(line.as_bytes()), Ok(cmd), "{line}");
    }
});
