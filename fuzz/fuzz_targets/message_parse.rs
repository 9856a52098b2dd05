//! The message parser on arbitrary bytes: never panics, ranges stay in bounds, and every
//! accessor (decoding, charsets, addresses, dates, summary) copes with what it finds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcore::message::{Limits, Message, ParseOptions};

fuzz_target!(|data: &[u8]| {
    let mut options = ParseOptions::default();
    // Small limits so that the limit paths are reached too.
    let mut limits = Limits::default();
    limits.max_depth = 8;
    limits.max_parts = 64;
    limits.max_header_bytes = 4096;
    limits.max_header_fields = 64;
    limits.max_warnings = 16;
    options.limits = limits;
    for msg in [Message::parse(data.to_vec()), Message::parse_with(data.to_vec(), &options)] {
        for (_, part) in msg.sections() {
            let (h, b) = (part.header_range(), part.body_range());
            assert!(h.start <= h.end && h.end <= b.start && b.end <= data.len());
            let _ = (part.text(), part.filename(), part.decoded_body());
            for f in part.fields() {
                let _ = f.text();
            }
        }
        let _ = (msg.date(), msg.message_id(), msg.attachments().count());
        let _ = mailcore::summary::Summary::of(&msg);
    }
});
