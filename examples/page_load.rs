//! The inspector page's first load in headless Chromium, for `scripts/bench-page.sh`: in a
//! fresh browser session (empty cache) per round, opens `--url`, waits for the page's
//! `hookrelay-interactive` mark (set once the first rows are on screen and the page
//! answers input), and prints one JSON line per round: when that mark came (ms after
//! navigation start), the bytes transferred by then (the page, its assets, the API calls,
//! headers included, as the browser's resource timing counts them), the page's own files
//! apart, how many events the page asked for, and 2 s later every byte of the first load
//! (the delivery states of the rows on screen, the server's state).

use std::time::Duration;

use clap::Parser;
use fantoccini::ClientBuilder;
use serde_json::{Value, json};

/// Measure the inspector page's first load
#[derive(Parser)]
struct Args {
    /// chromedriver, e.g. http://127.0.0.1:9515
    #[arg(long, value_name = "URL")]
    webdriver: String,

    /// The page, e.g. http://127.0.0.1:5000/
    #[arg(long, value_name = "URL")]
    url: String,

    /// Fresh sessions to measure
    #[arg(long, default_value_t = 5, value_name = "N")]
    rounds: u32,

    /// Chromium binary
    #[arg(long, default_value = "/usr/bin/chromium", value_name = "PATH")]
    chromium: String,
}

/// Run in the page once the mark is there: the figures of this load.
const MEASURE: &str = r#"
const mark = performance.getEntriesByName('hookrelay-interactive')[0];
if (!mark) return null;
const nav = performance.getEntriesByType('navigation')[0];
const resources = performance.getEntriesByType('resource').filter(r => r.responseEnd <= mark.startTime);
const own = resources.filter(r => new URL(r.name).pathname.startsWith('/ui/'));
const events = resources.filter(r => new URL(r.name).pathname === '/events')
  .map(r => Number(new URL(r.name).searchParams.get('limit') || 100));
return {
  interactive_ms: mark.startTime,
  dom_content_loaded_ms: nav.domContentLoadedEventEnd,
  page_bytes: nav.transferSize + own.reduce((n, r) => n + r.transferSize, 0),
  page_body_bytes: nav.encodedBodySize + own.reduce((n, r) => n + r.encodedBodySize, 0),
  total_bytes: nav.transferSize + resources.reduce((n, r) => n + r.transferSize, 0),
  requests: 1 + resources.length,
  events_asked: events.reduce((n, l) => n + l, 0),
  rows: document.querySelectorAll('#rows .row').length,
};
"#;

/// Run a while after: every byte of the first load, the rows' delivery states included
/// (the stream, still open, is not counted).
const SETTLED: &str = r#"
const nav = performance.getEntriesByType('navigation')[0];
const resources = performance.getEntriesByType('resource');
return {
  settled_bytes: nav.transferSize + resources.reduce((n, r) => n + r.transferSize, 0),
  settled_requests: 1 + resources.length,
};
"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for _ in 0..args.rounds {
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": args.chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900"],
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object")
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&args.webdriver)
            .await?;
        client.goto(&args.url).await?;
        let mut figures = Value::Null;
        for _ in 0..500 {
            figures = client.execute(MEASURE, Vec::new()).await?;
            if !figures.is_null() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        anyhow::ensure!(!figures.is_null(), "the page never became interactive");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let settled = client.execute(SETTLED, Vec::new()).await?;
        client.close().await?;
        if let (Value::Object(figures), Value::Object(settled)) = (&mut figures, settled) {
            figures.extend(settled);
        }
        println!("{figures}");
    }
    Ok(())
}
