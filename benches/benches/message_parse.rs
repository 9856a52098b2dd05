//! Message parsing throughput: mailcore's parser against `mail-parser` 0.11 on the same inputs.
//!
//! Both parse the full MIME tree and are asked for the decoded subject and the text body.
//! mail-parser decodes every part while parsing; mailcore decodes on access, so a second
//! mailcore variant (`mailcore_full_decode`) decodes every leaf once (text parts through their
//! charset), for a like-for-like comparison with the eager parser.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("message_parse");
    group.measurement_time(std::time::Duration::from_secs(3));
    group.warm_up_time(std::time::Duration::from_secs(1));
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
            BenchmarkId::new("mailcore_full_decode", input.name),
            &bytes,
            |b, bytes| {
                b.iter(|| {
                    let msg = mailcore::message::Message::parse(bytes.clone());
                    // Every leaf decoded once: text parts to UTF-8, the rest to bytes.
                    let decoded: usize = msg
                        .leaf_parts()
                        .map(|p| p.text().map_or_else(|| p.decoded_body().len(), |t| t.len()))
                        .sum();
                    black_box((msg.subject(), decoded))
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
