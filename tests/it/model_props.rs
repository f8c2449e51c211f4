//! Property tests of the event model: arbitrary JSON and bytes never panic the validator
//! and are judged the same way every time; every valid event, however it is spaced,
//! escaped and ordered, is accepted and comes back byte for byte from the server.

use std::collections::HashSet;
use std::sync::Arc;

use hookrelay::model::{self, Invalid};
use hookrelay::server::memory::MemoryStore;
use hookrelay::server::{AppState, Config};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunConfig, TestCaseError, TestRunner};
use serde_json::Value;

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object written by hand from (key, value) pairs, so keys may repeat, with the
/// model's keys likely and values of any type.
fn model_like_text() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("event_id".to_string()),
        Just("timestamp".to_string()),
        Just("event_type".to_string()),
        Just("description".to_string()),
        any::<String>(),
    ];
    let value = prop_oneof![
        json_value(),
        timestamp_text().prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
    ];
    prop::collection::vec((key, value), 0..7).prop_map(|pairs| {
        let members: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), v))
            .collect();
        format!("{{{}}}", members.join(","))
    })
}

/// Inputs of every kind: JSON documents, model-like objects, arrays of them, raw bytes.
fn any_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|v| v.to_string().into_bytes()),
        model_like_text().prop_map(String::into_bytes),
        prop::collection::vec(model_like_text(), 0..4).prop_map(|items| format!(
            "[{}]",
            items.join(",")
        )
        .into_bytes()),
        prop::collection::vec(any::<u8>(), 0..200),
    ]
}

/// A timestamp in one of the accepted forms.
fn timestamp_text() -> impl Strategy<Value = String> {
    let date = (1000u32..=9999, 1u32..=12, 1u32..=28)
        .prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"));
    let time = (0u32..=23, 0u32..=59, prop::option::of(0u32..=59)).prop_map(|(h, m, s)| match s {
        Some(s) => format!("{h:02}:{m:02}:{s:02}"),
        None => format!("{h:02}:{m:02}"),
    });
    let fraction = prop::option::of("[0-9]{1,9}").prop_map(|f| f.map(|f| format!(".{f}")));
    let separator = prop::sample::select(vec!["T", "t", " "]);
    let offset = prop_oneof![
        Just(String::new()),
        Just("Z".to_string()),
        Just("z".to_string()),
        (prop::sample::select(vec!['+', '-']), 0u32..=14, 0u32..=59)
            .prop_map(|(sign, h, m)| format!("{sign}{h:02}:{m:02}")),
        (prop::sample::select(vec!['+', '-']), 0u32..=14, 0u32..=59)
            .prop_map(|(sign, h, m)| format!("{sign}{h:02}{m:02}")),
    ];
    (date, separator, time, fraction, offset).prop_map(|(date, sep, time, fraction, offset)| {
        // A fraction needs seconds before it.
        let fraction = if time.len() == 8 {
            fraction.unwrap_or_default()
        } else {
            String::new()
        };
        format!("{date}{sep}{time}{fraction}{offset}")
    })
}

/// A JSON string literal for `s`, with some letters and digits written as `\u` escapes.
fn string_literal(s: &str, escape_mask: u64) -> String {
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_alphanumeric() && escape_mask >> (i % 64) & 1 == 1 {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            let one = Value::from(c.to_string()).to_string();
            out.push_str(&one[1..one.len() - 1]);
        }
    }
    out.push('"');
    out
}

/// A valid event as text: any id, a timestamp in an accepted form, any strings (some
/// characters escaped; the type without U+0000, which the model refuses), extra members,
/// shuffled order, odd whitespace.
fn valid_event() -> impl Strategy<Value = (i64, String)> {
    let space = prop::sample::select(vec!["", " ", "  ", "\n", "\t", "\r\n  "]);
    let extra = prop::collection::vec(("x[a-z0-9_]{0,8}", json_value()), 0..4);
    (
        any::<i64>(),
        timestamp_text(),
        "[^\\x00\\n]+",
        any::<String>(),
        extra,
        any::<u64>(),
        prop::collection::vec(space, 16),
        any::<prop::sample::Index>(),
    )
        .prop_flat_map(|(id, ts, event_type, description, extra, mask, ws, _)| {
            let mut members = vec![
                ("event_id".to_string(), id.to_string()),
                ("timestamp".to_string(), string_literal(&ts, mask)),
                ("event_type".to_string(), string_literal(&event_type, mask)),
                (
                    "description".to_string(),
                    string_literal(&description, mask),
                ),
            ];
            let mut seen = HashSet::new();
            for (k, v) in extra {
                if seen.insert(k.clone()) {
                    members.push((k, v.to_string()));
                }
            }
            (Just(id), Just(members).prop_shuffle(), Just(ws))
        })
        .prop_map(|(id, members, ws)| {
            let w = |i: usize| ws[i % ws.len()];
            let body: Vec<String> = members
                .iter()
                .enumerate()
                .map(|(i, (k, v))| format!("{}\"{k}\"{}:{}{v}", w(i), w(i + 1), w(i + 2)))
                .collect();
            (
                id,
                format!("{}{{{}{}}}{}", w(3), body.join(","), w(5), w(7)),
            )
        })
}

fn config(cases: u32) -> RunConfig {
    RunConfig {
        cases,
        failure_persistence: None,
        ..RunConfig::default()
    }
}

fn run(cases: u32, strategy: impl Strategy<Value = Vec<u8>>, test: fn(&[u8])) {
    let mut runner = TestRunner::new(config(cases));
    runner
        .run(&strategy, |input| {
            test(&input);
            Ok(())
        })
        .unwrap();
}

/// Also the no-panic property: a panic in either validator fails this test too.
#[test]
fn the_verdict_and_error_list_for_an_input_are_deterministic() {
    run(2000, any_input(), |input| {
        assert_eq!(model::validate_event(input), model::validate_event(input));
        assert_eq!(
            model::validate_document(input),
            model::validate_document(input)
        );
        // Malformed or not is decided by the bytes, the same for one event or a document.
        let one = matches!(model::validate_event(input), Err(Invalid::Malformed { .. }));
        let doc = matches!(
            model::validate_document(input),
            Err(Invalid::Malformed { .. })
        );
        assert_eq!(one, doc);
    });
}

#[test]
fn generated_valid_events_are_accepted_with_their_fields() {
    let mut runner = TestRunner::new(config(1000));
    runner
        .run(&valid_event(), |(id, body)| {
            let event = model::validate_event(body.as_bytes())
                .map_err(|e| TestCaseError::fail(format!("{e}: {body}")))?;
            let tree: Value = serde_json::from_str(&body).unwrap();
            prop_assert_eq!(event.event_id, id);
            prop_assert_eq!(tree["timestamp"].as_str(), Some(event.timestamp.as_str()));
            prop_assert_eq!(tree["event_type"].as_str(), Some(event.event_type.as_str()));
            prop_assert_eq!(
                tree["description"].as_str(),
                Some(event.description.as_str())
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn every_valid_event_round_trips_byte_exact_through_the_server() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let base = runtime.block_on(async {
        let store = Arc::new(MemoryStore::new(100_000, 100_000));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(hookrelay::server::serve(
            listener,
            AppState::new(store, Config::default()),
            std::future::pending(),
        ));
        base
    });
    let http = reqwest::Client::new();
    let used = std::sync::Mutex::new(HashSet::new());
    let mut runner = TestRunner::new(config(300));
    runner
        .run(&valid_event(), |(id, body)| {
            if !used.lock().unwrap().insert(id) {
                return Ok(()); // another case took this id: its body would conflict
            }
            runtime.block_on(async {
                let answer = http
                    .post(format!("{base}/webhook"))
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                prop_assert_eq!(answer.status().as_u16(), 200, "{}", body);
                let kept = http
                    .get(format!("{base}/events/{id}/body"))
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                prop_assert_eq!(kept.as_ref(), body.as_bytes());
                Ok(())
            })
        })
        .unwrap();
}
