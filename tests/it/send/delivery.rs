//! What is sent and how it is reported: the body and headers that arrive, defaults, files
//! and stdin, refusals before sending, --json and --dry-run.

use serde_json::{Value, json};

use super::{USER_AGENT, send, stderr, stdout};
use crate::support::{Answer, Customer, Served, get_json};

#[tokio::test]
async fn the_original_flow_send_to_a_real_serve_and_see_it_in_events() {
    let server = Served::start(&[]);

    let done = send(&server.url("/webhook"), &["--event-id", "123"])
        .assert()
        .code(0);

    assert_eq!(stdout(&done), "{\"status\":\"success\",\"event_id\":123}\n");
    let (status, list) = get_json(&server.url("/events")).await;
    assert_eq!(status, 200);
    let events = list["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_id"], 123);
    assert_eq!(events[0]["event_type"], "alert");
    assert_eq!(events[0]["description"], "");
}

#[test]
fn the_customer_receives_exactly_the_event_and_headers() {
    let customer = Customer::start();

    let done = send(
        &customer.url("/hooks/in?source=ci"),
        &[
            "--event-id",
            "7",
            "--event-type",
            "order.paid",
            "--description",
            "paid in full",
            "--timestamp",
            "2023-10-05T12:34:56+02:00",
            "--header",
            "X-Token: s3cret",
            "-H",
            "X-Trace:  abc ",
        ],
    )
    .assert()
    .code(0);

    let got = customer.requests();
    assert_eq!(got.len(), 1);
    let request = &got[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hooks/in?source=ci");
    assert_eq!(
        request.body_text(),
        r#"{"event_id":7,"timestamp":"2023-10-05T12:34:56+02:00","event_type":"order.paid","description":"paid in full"}"#
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("user-agent"), Some(USER_AGENT));
    assert_eq!(request.header("x-token"), Some("s3cret"));
    assert_eq!(request.header("x-trace"), Some("abc"));
    assert_eq!(
        stdout(&done),
        "ok\n",
        "stdout is the response body, and a newline"
    );
    assert!(
        stderr(&done).contains("attempt 1/4: 200 OK"),
        "{}",
        stderr(&done)
    );
}

#[test]
fn defaults_are_type_alert_empty_description_and_now_in_utc() {
    let customer = Customer::start();
    let before = chrono::Utc::now().timestamp();

    send(&customer.url("/"), &["--event-id", "1"])
        .assert()
        .code(0);

    let after = chrono::Utc::now().timestamp();
    let body = customer.requests()[0].json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["event_id", "timestamp", "event_type", "description"]);
    assert_eq!(body["event_id"], 1);
    assert_eq!(body["event_type"], "alert");
    assert_eq!(body["description"], "");
    let timestamp = body["timestamp"].as_str().unwrap();
    assert!(timestamp.ends_with('Z'), "in UTC: {timestamp}");
    let sent = chrono::DateTime::parse_from_rfc3339(timestamp)
        .unwrap()
        .timestamp();
    assert!((before..=after).contains(&sent), "{timestamp} is not now");
}

const FILE_EVENT: &str = "{\n  \"event_id\": 42,\n  \"timestamp\": \"2023-10-05T12:34:56\",\n  \
    \"event_type\": \"notification\",\n  \"description\": \"from a file\",\n  \"tenant\": \"acme\"\n}\n";

#[test]
fn a_file_is_sent_byte_for_byte() {
    let customer = Customer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("event.json");
    std::fs::write(&path, FILE_EVENT).unwrap();

    send(&customer.url("/"), &["--file", path.to_str().unwrap()])
        .assert()
        .code(0);

    assert_eq!(customer.requests()[0].body_text(), FILE_EVENT);
}

#[test]
fn stdin_is_read_with_file_dash_and_flags_override_its_fields() {
    let customer = Customer::start();

    send(
        &customer.url("/"),
        &[
            "--file",
            "-",
            "--event-id",
            "43",
            "--description",
            "overridden",
        ],
    )
    .write_stdin(FILE_EVENT)
    .assert()
    .code(0);

    let body = customer.requests()[0].json();
    assert_eq!(
        body,
        json!({
            "event_id": 43,
            "timestamp": "2023-10-05T12:34:56",
            "event_type": "notification",
            "description": "overridden",
            "tenant": "acme",
        })
    );
}

/// A flag changes only its own field: the file's other members go out as the file wrote
/// them, in its order, even numbers that a round trip through f64 would change.
#[test]
fn an_overriding_flag_leaves_the_other_members_as_written() {
    let customer = Customer::start();
    let file = r#"{"event_id": 5, "timestamp": "2023-10-05T12:34:56", "event_type": "x",
        "description": "", "amount": 123456789012345678901234567890, "price": 1.50,
        "tags": ["a", {"b": 0.1000000000000000055511151231257827}]}"#;

    send(&customer.url("/"), &["--file", "-", "--event-id", "9"])
        .write_stdin(file)
        .assert()
        .code(0);

    assert_eq!(
        customer.requests()[0].body_text(),
        r#"{"event_id":9,"timestamp":"2023-10-05T12:34:56","event_type":"x","description":"","amount":123456789012345678901234567890,"price":1.50,"tags":["a", {"b": 0.1000000000000000055511151231257827}]}"#
    );
}

#[test]
fn an_invalid_payload_exits_2_with_the_problems_and_sends_nothing() {
    let customer = Customer::start();

    let refused = send(
        &customer.url("/"),
        &[
            "--event-id",
            "1",
            "--event-type",
            "",
            "--timestamp",
            "2023-10-05",
        ],
    )
    .assert()
    .code(2);

    let err = stderr(&refused);
    assert!(
        err.contains("hookrelay: error: the payload is not a valid event, nothing was sent"),
        "{err}"
    );
    assert!(
        err.contains("  event_type: expected a non-empty string, got an empty string"),
        "{err}"
    );
    assert!(
        err.contains("  timestamp: expected an ISO 8601 date-time"),
        "{err}"
    );
    assert!(err.contains("(a date alone has no time)"), "{err}");
    assert_eq!(stdout(&refused), "");
    assert_eq!(customer.count(), 0, "nothing may reach the customer");
}

#[test]
fn an_invalid_payload_with_json_prints_one_result_object_with_the_problems() {
    let customer = Customer::start();

    let refused = send(
        &customer.url("/"),
        &["--event-id", "1", "--event-type", "", "--json"],
    )
    .assert()
    .code(2);

    let result: serde_json::Value = serde_json::from_str(&stdout(&refused)).unwrap();
    assert_eq!(result["delivered"], false);
    assert_eq!(result["attempts"], 0);
    assert_eq!(
        result["problems"],
        serde_json::json!([{"field": "event_type", "message": "expected a non-empty string, got an empty string"}])
    );
    assert_eq!(customer.count(), 0);
}

#[test]
fn a_malformed_file_exits_2_with_line_and_column_and_sends_nothing() {
    let customer = Customer::start();

    let refused = send(&customer.url("/"), &["--file", "-"])
        .write_stdin("{\"event_id\": 1,\n\"timestamp\" \"x\"}")
        .assert()
        .code(2);

    let err = stderr(&refused);
    assert!(err.contains("invalid JSON at line 2, column 13"), "{err}");
    assert_eq!(customer.count(), 0);
}

#[test]
fn no_event_id_and_no_file_is_a_usage_error() {
    let customer = Customer::start();

    let refused = send(&customer.url("/"), &[]).assert().code(2);

    assert!(
        stderr(&refused).contains("hookrelay: error: give --event-id"),
        "{}",
        stderr(&refused)
    );
    assert!(
        stderr(&refused).contains("--sample"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(customer.count(), 0);
}

#[test]
fn an_unreadable_file_exits_2_naming_it() {
    let refused = send(
        "http://127.0.0.1:9/",
        &["--file", "/nonexistent/event.json"],
    )
    .assert()
    .code(2);

    assert!(
        stderr(&refused).contains("hookrelay: error: reading /nonexistent/event.json"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn json_output_reports_a_delivery() {
    let customer = Customer::failing_first(1, Answer::status(500));

    let done = send(&customer.url("/"), &["--event-id", "5", "--json"])
        .assert()
        .code(0);

    let result: Value = serde_json::from_str(&stdout(&done)).expect("one JSON object");
    assert_eq!(result["delivered"], true);
    assert_eq!(result["status"], 200);
    assert_eq!(result["attempts"], 2);
    assert!(result["elapsed_ms"].is_u64(), "{result}");
    assert_eq!(result["error"], Value::Null);
    assert_eq!(result["response"], "ok");
}

#[test]
fn json_output_reports_a_failure() {
    let customer = Customer::always(Answer::status(404).body("no such hook"));

    let failed = send(&customer.url("/"), &["--event-id", "5", "--json"])
        .assert()
        .code(1);

    let result: Value = serde_json::from_str(&stdout(&failed)).expect("one JSON object");
    assert_eq!(result["delivered"], false);
    assert_eq!(result["status"], 404);
    assert_eq!(result["attempts"], 1);
    assert!(
        result["error"]
            .as_str()
            .unwrap()
            .starts_with("404 Not Found"),
        "{result}"
    );
    assert_eq!(result["response"], "no such hook");
}

/// With `--json`, a dry run prints the request as one object, as a sent one prints its
/// outcome.
#[test]
fn dry_run_with_json_prints_the_request_as_one_object() {
    let customer = Customer::start();
    let url = customer.url("/hook");

    let done = send(
        &url,
        &[
            "--event-id",
            "9",
            "--timestamp",
            "2023-10-05T12:34:56",
            "-H",
            "X-Token: abc",
            "--dry-run",
            "--json",
        ],
    )
    .assert()
    .code(0);

    let printed: serde_json::Value = serde_json::from_str(&stdout(&done)).unwrap();
    assert_eq!(printed["dry_run"], true);
    assert_eq!(printed["url"], url);
    assert!(
        printed["headers"]
            .as_array()
            .unwrap()
            .contains(&json!(["x-token", "abc"])),
        "{printed}"
    );
    assert_eq!(
        printed["body"],
        r#"{"event_id":9,"timestamp":"2023-10-05T12:34:56","event_type":"alert","description":""}"#
    );
    assert_eq!(customer.count(), 0);
}

#[test]
fn dry_run_prints_the_request_and_sends_nothing() {
    let customer = Customer::start();
    let url = customer.url("/hook");

    let done = send(
        &url,
        &[
            "--event-id",
            "9",
            "--timestamp",
            "2023-10-05T12:34:56",
            "-H",
            "X-Token: abc",
            "--dry-run",
        ],
    )
    .assert()
    .code(0);

    assert_eq!(
        stdout(&done),
        format!(
            "POST {url}\ncontent-type: application/json\nuser-agent: {USER_AGENT}\naccept: */*\n\
             x-token: abc\n\n\
             {{\"event_id\":9,\"timestamp\":\"2023-10-05T12:34:56\",\"event_type\":\"alert\",\"description\":\"\"}}\n"
        )
    );
    assert_eq!(customer.count(), 0);
}

/// A dry run shows the headers the request carries, each once: a Slack form's type
/// instead of JSON's.
#[test]
fn a_dry_run_shows_the_headers_that_are_sent() {
    let customer = Customer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("command.txt");
    std::fs::write(&file, "command=%2Fweather&text=94070").unwrap();
    let file = file.to_str().unwrap();
    let args = ["--as", "slack", "--file", file, "--secret", "s", "--json"];

    let dry = send(
        &customer.url("/hook"),
        &[&args[..], &["--dry-run"]].concat(),
    )
    .assert()
    .code(0);
    send(&customer.url("/hook"), &args).assert().code(0);

    let printed: Value = serde_json::from_str(&stdout(&dry)).unwrap();
    let shown: Vec<(String, String)> = printed["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h[0].as_str().unwrap().into(), h[1].as_str().unwrap().into()))
        .collect();
    let content_types: Vec<&str> = shown
        .iter()
        .filter(|(name, _)| name == "content-type")
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(
        content_types,
        ["application/x-www-form-urlencoded"],
        "{printed}"
    );
    let got = &customer.requests()[0];
    let mut sent: Vec<&str> = got
        .headers
        .keys()
        .map(|name| name.as_str())
        .filter(|name| !matches!(*name, "host" | "content-length"))
        .collect();
    let mut shown: Vec<&str> = shown.iter().map(|(name, _)| name.as_str()).collect();
    sent.sort_unstable();
    shown.sort_unstable();
    assert_eq!(shown, sent, "{printed}");
    for (name, value) in [
        ("content-type", "application/x-www-form-urlencoded"),
        ("user-agent", USER_AGENT),
        ("accept", "*/*"),
    ] {
        assert_eq!(got.header_all(name), [value]);
    }
}

#[test]
fn a_bad_header_or_url_is_a_usage_error() {
    let customer = Customer::start();

    let bad_header = send(&customer.url("/"), &["--event-id", "1", "-H", "no colon"])
        .assert()
        .code(2);
    let bad_scheme = send("ftp://127.0.0.1/x", &["--event-id", "1"])
        .assert()
        .code(2);

    assert!(stderr(&bad_header).contains("expected a header like 'Name: value'"));
    assert!(stderr(&bad_scheme).contains("the URL needs http:// or https:// in front"));
    assert_eq!(customer.count(), 0);
}

#[test]
fn a_url_without_a_scheme_is_told_to_take_http_or_https() {
    let refused = send("127.0.0.1:9000/hook", &["--event-id", "1"])
        .assert()
        .code(2);

    let err = stderr(&refused);
    assert!(!err.contains("relative URL without a base"), "{err}");
    assert!(
        err.contains("the URL needs http:// or https:// in front, got \"127.0.0.1:9000/hook\""),
        "{err}"
    );
    assert!(err.contains("(http://127.0.0.1:9000/hook?)"), "{err}");
}

#[test]
fn a_body_gets_a_final_newline_only_when_it_lacks_one() {
    let with_newline = Customer::always(Answer::ok().body("fine\n"));
    let empty = Customer::always(Answer::ok().body(""));

    let as_is = send(&with_newline.url("/"), &["--event-id", "1"])
        .assert()
        .code(0);
    let nothing = send(&empty.url("/"), &["--event-id", "1"]).assert().code(0);

    assert_eq!(stdout(&as_is), "fine\n");
    assert_eq!(stdout(&nothing), "");
}

#[test]
fn the_usage_line_says_event_id_or_file() {
    let help = hookrelay_help("send");

    assert!(
        help.contains(
            "Usage: hookrelay send [OPTIONS] --to <URL> (--event-id <ID> | --file <PATH> | --sample <NAME>)"
        ),
        "{help}"
    );
    assert!(help.contains("give one to repeat a send"), "{help}");
    assert!(help.contains("409 conflict"), "{help}");
}

fn hookrelay_help(subcommand: &str) -> String {
    let out = crate::support::hookrelay()
        .args([subcommand, "--help"])
        .assert()
        .code(0);
    stdout(&out)
}

/// A zero time allowed would time out every attempt before it began: a usage error.
#[test]
fn a_timeout_of_zero_is_a_usage_error() {
    let customer = Customer::start();
    for flag in ["--timeout", "--connect-timeout"] {
        let refused = send(&customer.url("/"), &["--event-id", "1", flag, "0"])
            .assert()
            .code(2);
        assert!(
            stderr(&refused).contains("more than zero"),
            "{flag}: {}",
            stderr(&refused)
        );
    }
    assert_eq!(customer.count(), 0);
}

#[test]
fn headers_that_frame_the_body_are_refused_and_nothing_is_sent() {
    let customer = Customer::start();
    for header in [
        "Content-Length: 5",
        "transfer-encoding: chunked",
        "Connection: close",
    ] {
        let refused = send(
            &customer.url("/"),
            &["--event-id", "1", "-H", header, "--timeout", "2s"],
        )
        .assert()
        .code(2);
        let err = stderr(&refused);
        assert!(
            err.contains("is set from the body itself"),
            "{header}: {err}"
        );
    }
    assert_eq!(customer.count(), 0, "nothing was sent");
}
