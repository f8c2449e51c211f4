//! The inspector page over HTTP: `GET /` and its assets as a browser meets them (types,
//! caching, what they may load), and `GET /events?order=desc`, the newest-first paging the
//! page reads. What the page does in a browser is in `tests/it/browser.rs`.

use hookrelay::server::ui;

use super::{ids, query};
use crate::support::{App, Served, event, post_json};

#[tokio::test]
async fn the_page_is_html_that_loads_only_its_own_digest_named_assets() {
    let app = App::start().await;

    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    let html = page.text().await.unwrap();
    assert!(html.contains("<title>hookrelay inspector</title>"));

    for (name, kind) in ui::asset_names().into_iter().zip(["javascript", "css"]) {
        assert!(html.contains(&format!("/ui/{name}")), "{name} linked");
        let asset = app
            .client
            .get(app.url(&format!("/ui/{name}")))
            .send()
            .await
            .unwrap();
        assert_eq!(asset.status(), 200, "{name}");
        assert_eq!(
            asset.headers()["content-type"],
            format!("text/{kind}; charset=utf-8")
        );
        assert_eq!(
            asset.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert!(!asset.text().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_browser_holding_the_current_copy_gets_304_and_an_unknown_file_404() {
    let app = App::start().await;
    let first = app.client.get(app.url("/ui/app.js")).send().await.unwrap();
    let etag = first.headers()["etag"].clone();
    assert_eq!(first.headers()["cache-control"], "no-cache");

    let again = app
        .client
        .get(app.url("/ui/app.js"))
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    let page = app
        .client
        .get(app.url("/"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    let (missing, body) = app.get("/ui/app.0000000000.js").await;

    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());
    assert_eq!(page.status(), 200, "another file's tag is not the page's");
    assert_eq!(missing, 404);
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn with_a_token_the_page_opens_without_it_and_the_events_need_it() {
    let token = "page-test-token-0123456789";
    let server = Served::start(&["--admin-token", token]);
    let client = reqwest::Client::new();

    let page = client.get(server.url("/")).send().await.unwrap();
    let events = client.get(server.url("/events")).send().await.unwrap();

    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("token-form"));
    assert_eq!(events.status(), 401);
}

#[tokio::test]
async fn events_newest_first_page_back_to_the_oldest_with_their_sizes_or_as_summaries() {
    let app = App::start().await;
    for id in 1..=5 {
        let (status, _) = post_json(&app.url("/webhook"), event(id)).await;
        assert_eq!(status, 200);
    }

    let (_, first) = app.get(&query(&[("order", "desc"), ("limit", "2")])).await;
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let (_, second) = app
        .get(&query(&[
            ("order", "desc"),
            ("limit", "2"),
            ("cursor", &cursor),
        ]))
        .await;
    let cursor = second["next_cursor"].as_str().unwrap().to_string();
    let (_, last) = app
        .get(&query(&[
            ("order", "desc"),
            ("limit", "2"),
            ("cursor", &cursor),
        ]))
        .await;
    let (_, oldest_first) = app.get(&query(&[("order", "asc"), ("limit", "2")])).await;
    let (refused, error) = app.get(&query(&[("order", "newest")])).await;
    let (_, summaries) = app
        .get(&query(&[
            ("order", "desc"),
            ("limit", "1"),
            ("summary", "true"),
        ]))
        .await;

    assert_eq!(ids(&first), [5, 4]);
    assert_eq!(ids(&second), [3, 2]);
    assert_eq!(ids(&last), [1]);
    assert!(last["next_cursor"].is_null());
    assert_eq!(ids(&oldest_first), [1, 2]);
    assert_eq!(first["events"][0]["size"], event(5).len());
    assert_eq!(first["events"][0]["body"]["event_id"], 5);
    let listed = &summaries["events"][0];
    assert_eq!(
        (listed["event_id"].as_i64(), listed.get("body")),
        (Some(5), None)
    );
    assert!(listed.get("headers").is_none(), "{listed}");
    assert!(
        first["events"][0]["headers"].is_array(),
        "kept and listed by default"
    );
    assert_eq!(
        listed["size"],
        event(5).len(),
        "the size still says how large"
    );
    assert_eq!(refused, 400);
    assert_eq!(error["error"], "bad_request");
}
