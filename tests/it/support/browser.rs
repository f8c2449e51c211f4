//! Headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`,
//! through `fantoccini`): `chromedriver` on a free port of 127.0.0.1, one browser session
//! per [`Browser`]. Where either program is missing the tests print why and skip, except
//! under `CI=true`, where they fail. One browser runs at a time: two Chromiums at once on
//! a small machine would make each slow enough to miss the page's deadlines.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};
use tokio::sync::{Mutex, MutexGuard};

use super::{DEADLINE, unused_port};

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// A program found on `PATH` under one of `names`.
fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// A browser session; the session and its driver end on drop (or with [`Browser::close`]).
pub struct Browser {
    pub client: Client,
    driver: Child,
    _turn: MutexGuard<'static, ()>,
}

impl Browser {
    /// A new headless session in a window of `width` × `height`, or `None` (with the reason
    /// printed) when Chromium or its driver is not installed outside CI.
    pub async fn start(width: u32, height: u32) -> Option<Self> {
        let chromium = find(&["chromium", "chromium-browser"]);
        let driver = find(&["chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            let why = "the browser tests need chromium and chromedriver \
                       (apt-get install chromium chromium-driver)";
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
            eprintln!("skipped: {why}");
            return None;
        };
        let turn = ONE_AT_A_TIME.lock().await;
        let port = unused_port();
        let mut driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // A group of its own, with the browsers it starts: see `Drop`.
            .process_group(0)
            .spawn()
            .expect("starting chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > DEADLINE {
                let _ = driver.kill();
                panic!("chromedriver did not listen on {url}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--no-default-browser-check",
                    format!("--window-size={width},{height}"),
                ],
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object")
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await;
        let client = match client {
            Ok(client) => client,
            Err(e) => {
                let _ = driver.kill();
                panic!("starting a Chromium session: {e}");
            }
        };
        Some(Self {
            client,
            driver,
            _turn: turn,
        })
    }

    /// Runs `script` (a function body) in the page and gives what it returns.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("running {script}: {e}"))
    }

    /// Waits until `script` returns something truthy within `within`, and gives it;
    /// panics with `what` and the page's text otherwise.
    pub async fn until(&self, what: &str, within: Duration, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.js(script).await;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!("")
                && value != json!(0);
            if truthy {
                return value;
            }
            if started.elapsed() > within {
                let text = self.js("return document.body.innerText").await;
                panic!("{what}: not within {within:?}; the page shows:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Clicks the element `selector` finds.
    pub async fn click(&self, selector: &str) {
        self.client
            .find(fantoccini::Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("finding {selector}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {selector}: {e}"));
    }

    /// Types `text` into the element `selector` finds (WebDriver key codes included).
    pub async fn type_into(&self, selector: &str, text: &str) {
        self.client
            .find(fantoccini::Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("finding {selector}: {e}"))
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {selector}: {e}"));
    }

    /// Ends the session (and its browser), then the driver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver's whole process group: a browser left by a test that panicked goes
        // with it.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}
