//! RFC 2047 decoding of arbitrary text never panics, and encoding anything decodes back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailcore::message::encoded_word::{self, WordEncoding};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let _ = encoded_word::decode_reporting(&s);
    assert_eq!(encoded_word::decode(&encoded_word::encode(&s)), s);
    assert_eq!(encoded_word::decode(&encoded_word::encode_words(&s, WordEncoding::Q)), s);
});
