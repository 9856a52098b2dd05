//! The IMAP response decoder (server → client) on arbitrary bytes in arbitrary chunks: never
//! panics, never loops, and buffers no more than its limits allow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcore_imap::decode::{Decoded, DecoderLimits, ResponseDecoder};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let mut limits = DecoderLimits::default();
    // Small limits so the fuzzer reaches the refusal paths.
    limits.max_line_length = 256;
    limits.max_literal = 64;
    limits.max_response = 1024;
    limits.max_depth = 8;
    let mut decoder = ResponseDecoder::new(limits);
    decoder.set_utf8_names(chunk & 0x80 != 0);
    for piece in rest.chunks(usize::from(chunk & 0x3f) + 1) {
        decoder.push(piece);
        let mut done = false;
        for _ in 0..10_000 {
            match decoder.next() {
                Decoded::NeedMore => {
                    done = true;
                    break;
                }
                Decoded::Malformed { fatal: true, .. } => return,
                _ => {}
            }
        }
        assert!(done, "next() never returned NeedMore");
        assert!(decoder.buffered() <= 1024 + 256 + 64 + 64);
    }
});
