//! A whole IMAP session fed arbitrary bytes in arbitrary chunks, with the shell's answers drawn
//! from the input: never panics, and its output is always whole CRLF-terminated lines.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use mailcore_imap::session::{Answer, Event, Session, SessionConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let mut session = Session::new(Arc::new(SessionConfig::default()), selector & 1 != 0);
    let mut n = 0usize;
    for chunk in rest.chunks((selector >> 1) as usize % 32 + 1) {
        session.handle_input(chunk);
        while let Some(event) = session.poll_event() {
            n += 1;
            match event {
                Event::StartTls => session.tls_established(),
                Event::Login { .. } if n % 2 == 0 => session.answer(Answer::LoggedIn),
                Event::Login { .. } => session.answer(Answer::Refused),
                Event::Command { tag, .. } => {
                    session.answer(Answer::Responses(format!("{} OK done\r\n", tag.as_str()).into_bytes()))
                }
                Event::IdleStarted => {}
                Event::IdleDone { tag } => {
                    session.answer(Answer::Responses(format!("{} OK idle done\r\n", tag.as_str()).into_bytes()))
                }
                _ => session.answer(Answer::Refused),
            }
        }
        let out = session.take_output();
        assert!(out.is_empty() || out.ends_with(b"\r\n"));
        if session.is_closed() {
            break;
        }
    }
});
