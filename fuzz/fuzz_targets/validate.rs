//! Fuzzes the one validation function with arbitrary bytes: it must never panic, must
//! judge the same bytes the same way twice, and whatever it accepts must agree with a
//! plain serde_json parse of the same bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let first = hookrelay::model::validate_event(data);
    assert_eq!(first, hookrelay::model::validate_event(data), "not deterministic");
    let _ = hookrelay::model::validate_document(data);

    if let Ok(event) = first {
        let text = std::str::from_utf8(data).expect("accepted bytes are UTF-8");
        assert!(text.trim_start().starts_with('{'), "accepted a non-object");
        // A tree parse may refuse a number beyond f64 that validation keeps verbatim;
        // when it succeeds, both must read the same fields.
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) {
            // `-0` is the integer 0 to hookrelay (as to Python's json); serde_json reads -0.0.
            let id = &map["event_id"];
            let id = id.as_i64().or((id.as_f64() == Some(0.0)).then_some(0));
            assert_eq!(id, Some(event.event_id));
            assert_eq!(map["timestamp"].as_str(), Some(event.timestamp.as_str()));
            assert_eq!(map["event_type"].as_str(), Some(event.event_type.as_str()));
            assert_eq!(map["description"].as_str(), Some(event.description.as_str()));
        }
    }
});
