//! Criterion benchmark of `model::validate_event`, the check every `POST /webhook` pays:
//! a typical valid event of about 120 bytes, an invalid one (every problem is collected,
//! so this is the slow path), and a larger valid event carrying extra fields.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hookrelay::model::validate_event;

const VALID: &[u8] = br#"{"event_id": 1234567, "timestamp": "2023-10-05T12:34:56Z", "event_type": "notification", "description": "Event description"}"#;

const INVALID: &[u8] = br#"{"event_id": "1234567", "timestamp": 1696509296, "event_type": "", "description": null, "extra": true}"#;

fn larger() -> Vec<u8> {
    let tags: Vec<String> = (0..20).map(|i| format!("\"tag-{i}\"")).collect();
    format!(
        r#"{{"event_id": 1234567, "timestamp": "2023-10-05T12:34:56.123456+02:00", "event_type": "order.paid", "description": "Order 8812 paid in full by card", "customer": {{"id": "cus_9f8e7d6c", "email": "someone@example.com", "name": "Some One", "address": {{"line1": "1 Long Street", "city": "Springfield", "postcode": "12345", "country": "US"}}}}, "amount": 12999, "currency": "usd", "tags": [{}], "metadata": {{"source": "checkout", "attempt": 1, "note": "{}"}}}}"#,
        tags.join(", "),
        "x".repeat(200)
    )
    .into_bytes()
}

fn bench_validate(c: &mut Criterion) {
    assert!(validate_event(VALID).is_ok());
    assert!(validate_event(INVALID).is_err());
    let larger = larger();
    assert!(validate_event(&larger).is_ok());

    let mut group = c.benchmark_group("validate_event");
    for (name, body) in [
        ("valid_120b", VALID),
        ("invalid", INVALID),
        ("valid_extra_fields", larger.as_slice()),
    ] {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| b.iter(|| validate_event(black_box(body))));
    }
    group.finish();
}

criterion_group!(benches, bench_validate);
criterion_main!(benches);
