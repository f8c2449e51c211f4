//! The inspector page in a real browser (headless Chromium over WebDriver, see
//! `support/browser.rs`): events posted with `hookrelay send` appear without a reload, one
//! opens with its body and headers, a replay shows its new attempt, the keyboard moves and
//! opens, a narrow window stays readable, and with `--admin-token` the page asks for the
//! token first. The first test leaves a screenshot in `target/inspector.png` (and in
//! `docs/inspector.png`, which the README shows, with `UPDATE_SCREENSHOT=1`).

use std::time::{Duration, Instant};

use fantoccini::key::Key;

use crate::support::browser::Browser;
use crate::support::{Customer, DEADLINE, Served, hookrelay};

/// `hookrelay send` of one event to `served`, with an extra header.
fn send(served: &Served, id: i64, event_type: &str, description: &str) {
    hookrelay()
        .args(["send", "--to", &served.url("/webhook")])
        .args(["--event-id", &id.to_string(), "--event-type", event_type])
        .args([
            "--description",
            description,
            "-H",
            "X-Trace: trace-of-event",
        ])
        .args(["--timestamp", "2026-12-06T10:15:00Z"])
        .timeout(DEADLINE)
        .assert()
        .success();
}

/// The JS test of a row for `event_id` in the list.
fn row(id: i64) -> String {
    format!(r#"return document.querySelector('#rows .row[data-event-id="{id}"]') !== null"#)
}

/// Attempts shown in the open event's deliveries.
const ATTEMPTS: &str = "return document.querySelectorAll('#deliveries .attempts tbody tr').length";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_appear_live_open_with_body_and_headers_and_replay_shows_the_new_attempt() {
    let customer = Customer::start();
    let served = Served::start(&["--forward-to", &customer.url("/hook")]);
    for (id, event_type) in [
        (991, "customer.created"),
        (992, "order.created"),
        (993, "payment.failed"),
        (994, "invoice.sent"),
    ] {
        send(&served, id, event_type, "an earlier event");
    }
    send(&served, 1001, "order.created", "first order");
    send(&served, 1002, "invoice.paid", "an invoice");
    let Some(browser) = Browser::start(1280, 1100).await else {
        return;
    };

    // The page opens on the events kept, newest first.
    browser.client.goto(&served.url("/")).await.unwrap();
    browser.until("the events kept", DEADLINE, &row(1001)).await;
    let order = browser
        .js("return [...document.querySelectorAll('#rows .row')].sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top).map(r => r.dataset.eventId)")
        .await;
    assert_eq!(
        order,
        serde_json::json!(["1002", "1001", "994", "993", "992", "991"])
    );

    // A new event appears without a reload.
    browser.js("window.notReloaded = true; return true").await;
    send(
        &served,
        1003,
        "order.created",
        "posted while the page is open",
    );
    let sent = Instant::now();
    browser
        .until(
            "the event posted after the page opened",
            Duration::from_secs(2),
            &row(1003),
        )
        .await;
    eprintln!(
        "event 1003 appeared {:?} after send returned",
        sent.elapsed()
    );
    assert_eq!(browser.js("return window.notReloaded === true").await, true);

    // Opened: its body pretty-printed, its headers (where the server keeps them), its
    // delivery with the first attempt.
    browser.click(r#"#rows .row[data-event-id="1003"]"#).await;
    let pretty = browser
        .until(
            "the body",
            DEADLINE,
            "const b = document.getElementById('body-pretty'); return b && b.textContent",
        )
        .await;
    assert!(
        pretty
            .as_str()
            .unwrap()
            .contains("\"event_id\": 1003,\n  \"timestamp\""),
        "{pretty}"
    );
    assert_eq!(
        browser
            .js("return document.getElementById('event-title').textContent")
            .await,
        "event 1003"
    );
    let headers = browser
        .js("return document.getElementById('headers').textContent")
        .await;
    let headers = headers.as_str().unwrap().to_ascii_lowercase();
    assert!(
        headers.contains("x-trace") && headers.contains("trace-of-event"),
        "{headers}"
    );
    browser
        .until("the first attempt", DEADLINE, &format!("{ATTEMPTS} === 1"))
        .await;
    let shown = browser
        .js("return document.getElementById('detail').innerText")
        .await;
    let shown = shown.as_str().unwrap();
    assert!(
        !shown
            .lines()
            .any(|l| l.trim() == "null" || l.contains("undefined")),
        "nothing shown as null or undefined:\n{shown}"
    );
    browser
        .until("the row's delivery state", DEADLINE, r#"const r = document.querySelector('#rows .row[data-event-id="1003"] .badge'); return r && r.textContent === 'delivered'"#)
        .await;

    // Replayed: a second attempt reaches the receiver and appears.
    browser.click("#replay").await;
    browser
        .until(
            "the replay's attempt",
            DEADLINE,
            &format!("{ATTEMPTS} === 2"),
        )
        .await;
    let to_1003 = customer
        .requests()
        .iter()
        .filter(|r| r.json()["event_id"] == 1003)
        .count();
    assert_eq!(to_1003, 2, "the replay was delivered");
    screenshot(&browser).await;

    // The commands to send it again carry its exact body.
    browser.click("#copy-curl").await;
    let curl = browser
        .until(
            "the curl command",
            DEADLINE,
            "const t = document.querySelector('#copied textarea'); return t && t.value",
        )
        .await;
    let curl = curl.as_str().unwrap();
    assert!(
        curl.starts_with("curl -sS -X POST 'http://127.0.0.1:"),
        "{curl}"
    );
    assert!(
        curl.contains(r#""description":"posted while the page is open""#),
        "{curl}"
    );

    // The keyboard: from the first row, ArrowDown then Enter opens the second.
    browser
        .js(r#"document.querySelector('#rows .row[data-event-id="1003"]').focus(); return true"#)
        .await;
    let keys = format!("{}{}", char::from(Key::Down), char::from(Key::Enter));
    browser
        .type_into(r#"#rows .row[data-event-id="1003"]"#, &keys)
        .await;
    browser
        .until(
            "the event opened from the keyboard",
            DEADLINE,
            "return document.getElementById('event-title')?.textContent === 'event 1002'",
        )
        .await;
    let outline = browser
        .js("return getComputedStyle(document.activeElement).outlineStyle")
        .await;
    assert_ne!(outline, "none", "the focused element shows it");
    // The list is one Tab stop, the row last moved to: the arrows move between rows.
    let stops = browser
        .js(r#"const s = [...document.querySelectorAll('#rows .row')].filter(r => r.tabIndex >= 0); return s.map(r => r.dataset.eventId)"#)
        .await;
    assert_eq!(
        stops,
        serde_json::json!(["1002"]),
        "one Tab stop in the list"
    );

    // A narrow window: one column, nothing wider than the window.
    browser.client.set_window_size(380, 760).await.unwrap();
    let fits = browser
        .until(
            "a layout that fits",
            DEADLINE,
            "return document.documentElement.scrollWidth <= window.innerWidth",
        )
        .await;
    assert_eq!(fits, true);
    // The attempts' numbers stay whole (the table scrolls instead): each status and
    // column name on one line.
    let whole = browser
        .until(
            "the attempts' cells on one line each",
            DEADLINE,
            "const cells = [...document.querySelectorAll('#deliveries .attempts th, #deliveries .attempts td:nth-child(3)')]; \
             return cells.length > 6 && cells.every(c => { const r = document.createRange(); r.selectNodeContents(c); return r.getClientRects().length === 1; })",
        )
        .await;
    assert_eq!(whole, true);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_admin_token_the_page_asks_for_it_and_keeps_it_for_the_tab() {
    let token = "browser-test-token-0123456789";
    let served = Served::start(&["--admin-token", token]);
    send(&served, 7, "order.created", "behind a token");
    let Some(browser) = Browser::start(1024, 700).await else {
        return;
    };

    browser.client.goto(&served.url("/")).await.unwrap();
    browser
        .until(
            "the token prompt",
            DEADLINE,
            "return !document.getElementById('token-form').hidden",
        )
        .await;
    assert_eq!(
        browser
            .js("return document.getElementById('main').hidden")
            .await,
        true
    );

    browser
        .type_into("#token-input", "not-the-token-0123456789")
        .await;
    browser.click("#token-submit").await;
    browser
        .until(
            "the refusal",
            DEADLINE,
            "return document.getElementById('token-error').textContent",
        )
        .await;
    browser.type_into("#token-input", token).await;
    browser.click("#token-submit").await;
    browser.until("the events", DEADLINE, &row(7)).await;

    let kept = browser
        .js("return [sessionStorage.getItem('hookrelay.admin-token'), localStorage.length, document.cookie]")
        .await;
    assert_eq!(
        kept,
        serde_json::json!([token, 0, ""]),
        "kept for the tab only"
    );
    browser.close().await;
}

/// `target/inspector.png`, and `docs/inspector.png` with `UPDATE_SCREENSHOT=1`.
async fn screenshot(browser: &Browser) {
    let png = browser.client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::write(root.join("target/inspector.png"), &png).expect("writing the screenshot");
    if std::env::var("UPDATE_SCREENSHOT").as_deref() == Ok("1") {
        std::fs::write(root.join("docs/inspector.png"), &png).expect("writing docs/inspector.png");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_draws_only_what_is_on_screen_filters_pauses_and_finds() {
    let served = Served::start(&[]);
    let client = reqwest::Client::new();
    for id in 1..=450 {
        let event_type = if id % 3 == 0 {
            "invoice.paid"
        } else {
            "order.created"
        };
        let answer = client
            .post(served.url("/webhook"))
            .header("content-type", "application/json")
            .body(crate::support::event_of_type(id, event_type))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let Some(browser) = Browser::start(1024, 700).await else {
        return;
    };
    browser.client.goto(&served.url("/")).await.unwrap();
    browser.until("the newest event", DEADLINE, &row(450)).await;

    // A screenful of rows is drawn, not 450; scrolling to the end reads older pages.
    let drawn = browser
        .js("return document.querySelectorAll('#rows .row').length")
        .await;
    assert!(drawn.as_u64().unwrap() < 80, "{drawn} rows drawn");
    for _ in 0..10 {
        browser
            .js("const v = document.getElementById('viewport'); v.scrollTop = v.scrollHeight; return true")
            .await;
        let done = browser.js(&row(1)).await;
        if done == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser
        .until("the oldest event, scrolled to", DEADLINE, &row(1))
        .await;
    let drawn = browser
        .js("return document.querySelectorAll('#rows .row').length")
        .await;
    assert!(
        drawn.as_u64().unwrap() < 80,
        "{drawn} rows drawn at the end"
    );

    // Paused: a new event is counted, not shown, until Resume.
    browser.click("#pause").await;
    let answer = client
        .post(served.url("/webhook"))
        .header("content-type", "application/json")
        .body(crate::support::event_of_type(451, "invoice.paid"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    browser
        .until(
            "the paused count",
            DEADLINE,
            "return document.getElementById('live').textContent === 'paused · 1 new'",
        )
        .await;
    assert_eq!(browser.js(&row(451)).await, false);
    browser.click("#pause").await;
    browser
        .js("document.getElementById('viewport').scrollTop = 0; return true")
        .await;
    browser.until("the held event", DEADLINE, &row(451)).await;

    // Filtered by type: only invoices, newest first.
    browser.type_into("#type-filter", "invoice.paid").await;
    browser
        .until("only invoices", DEADLINE, "const rows = [...document.querySelectorAll('#rows .row')]; return rows.length > 0 && !document.querySelector('#rows .row[data-event-id=\"449\"]') && rows.every(r => r.textContent.includes('invoice.paid'))")
        .await;
    assert_eq!(browser.js(&row(451)).await, true);

    // Found by id: the event opens.
    browser.type_into("#search", "17\u{E007}").await;
    browser
        .until(
            "the event found",
            DEADLINE,
            "return document.getElementById('event-title')?.textContent === 'event 17'",
        )
        .await;
    browser
        .type_into("#search", "\u{E009}a\u{E009}x-no-such-event\u{E007}")
        .await;
    let missing = browser
        .until(
            "the event not found",
            DEADLINE,
            "const p = document.querySelector('#detail [role=alert]'); return p && p.textContent",
        )
        .await;
    assert!(
        missing.as_str().unwrap().contains("x-no-such-event")
            || missing.as_str().unwrap().contains("integer"),
        "{missing}"
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_called_stream_or_with_a_slash_open_from_their_address() {
    let served = Served::start(&["--source", "json", "--id-from", "/id"]);
    for id in ["stream", "a/b"] {
        let body = format!(r#"{{"id":"{id}","note":"the event called {id}"}}"#);
        let (status, _) = crate::support::post_json(&served.url("/webhook"), body).await;
        assert_eq!(status, 200);
    }
    let Some(browser) = Browser::start(1000, 800).await else {
        return;
    };
    for (address, id) in [("stream", "stream"), ("a%2Fb", "a/b")] {
        browser
            .client
            .goto(&served.url(&format!("/#event/{address}")))
            .await
            .unwrap();
        let pretty = browser
            .until(
                &format!("the body of {id}"),
                DEADLINE,
                "const b = document.getElementById('body-pretty'); return b && b.textContent",
            )
            .await;
        assert!(
            pretty
                .as_str()
                .unwrap()
                .contains(&format!("the event called {id}")),
            "{pretty}"
        );
    }
    browser.close().await;
}
