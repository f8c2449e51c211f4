//! `json` and `schema:FILE` at their edges, through the real binary: a header that is
//! there but empty is called so, not missing.

use serde_json::Value;

use super::{post, serve};

fn refusal(answer: &Value) -> Vec<(String, String)> {
    answer["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no details: {answer}"))
        .iter()
        .map(|d| {
            (
                d["field"].as_str().unwrap().into(),
                d["message"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn a_header_that_is_there_but_empty_is_not_called_missing() {
    let serve = serve(&["--source", "json", "--type-from", "header:X-Kind"]);
    let url = serve.url("/webhook");

    let (empty, empty_answer) = post(&url, &[("x-kind", String::new())], b"{}");
    let (blank, blank_answer) = post(&url, &[("x-kind", "  ".to_string())], b"{}");
    let (absent, absent_answer) = post(&url, &[], b"{}");

    for (status, answer) in [(empty, &empty_answer), (blank, &blank_answer)] {
        assert_eq!(status, 422, "{answer}");
        let details = refusal(answer);
        assert_eq!(details[0].0, "header:x-kind", "{answer}");
        assert!(details[0].1.contains("present but empty"), "{answer}");
        assert!(!details[0].1.contains("missing"), "{answer}");
    }
    assert_eq!(absent, 422);
    assert_eq!(
        refusal(&absent_answer)[0].1,
        "missing header",
        "{absent_answer}"
    );
}
