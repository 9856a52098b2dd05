//! Message parsing throughput: mailcore's parser against `mail-parser` 0.11 on the same inputs.
//!
//! Both parse the full MIME tree; both are then asked for the decoded subject and the text
//! body, so neither gets away with laziness the other pays for.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("message_parse");
    for input in mailcore_benches::inputs() {
        let bytes = bytes::Bytes::from(input.bytes.clone());
        group.throughput(Throughput::Bytes(input.bytes.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("mailcore", input.name),
            &bytes,
            |b, bytes| {
                b.iter(|| {
                    let msg = mailcore::message::Message::parse(bytes.clone());
                    black_box((msg.subject(), msg.text_body(), msg.parts().count()))
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("mail-parser", input.name),
            &input.bytes,
            |b, raw| {
                b.iter(|| {
                    let msg = mail_parser::MessageParser::default()
                        .parse(raw.as_slice())
                        .map(|m| {
                            (
                                m.subject().map(str::to_owned),
                                m.body_text(0).map(|t| t.into_owned()),
                                m.parts.len(),
                            )
                        });
                    black_box(msg)
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
