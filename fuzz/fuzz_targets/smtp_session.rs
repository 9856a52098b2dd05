//! A whole SMTP session fed arbitrary bytes in arbitrary chunks, with the shell's answers
//! drawn from the input too: never panics, never hands over a message above the size limit, and
//! output always consists of CRLF-terminated reply lines.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use mailcore::reply::Reply;
use mailcore_smtp::session::{Answer, Event, Mode, Session, SessionConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let mode = if selector & 1 == 0 { Mode::Mx } else { Mode::Submission };
    let mut config = SessionConfig::new("mx.example.com", mode);
    config.limits.max_message_size = 4096;
    config.limits.max_line_length = 256;
    let mut session = Session::new(Arc::new(config), selector & 2 != 0);
    let mut n = 0usize;
    for chunk in rest.chunks(((selector >> 2) as usize % 16) + 1) {
        session.handle_input(chunk);
        while let Some(event) = session.poll_event() {
            n += 1;
            if let Event::Message { data, .. } = &event {
                assert!(data.len() <= 4096, "message over the size limit delivered");
            }
            match event {
                Event::StartTls => session.tls_established(),
                _ if n % 3 == 0 => session.answer(Answer::Reject(Reply::new(550, Some("5.7.1"), "no").unwrap())),
                _ => session.answer(Answer::Accept),
            }
        }
        let out = session.take_output();
        assert!(out.is_empty() || out.ends_with(b"\r\n"));
        if session.is_closed() {
            break;
        }
    }
});
