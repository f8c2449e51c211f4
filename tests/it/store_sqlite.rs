//! The durable store as a user meets it: the real `hookrelay serve --store sqlite:…`
//! killed with SIGKILL under load and restarted on the same file, and start-up refusing
//! files it cannot use. Relaying across crashes is in `store_sqlite_relay.rs`.

use crate::support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use support::durable::{Served, client, event, get_json, post};
use support::get_text;

/// Every stored event id, paging through `GET /events`.
async fn stored_ids(base: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get_json(base, &format!("/events?limit=1000&cursor={cursor}")).await;
        let events = page["events"].as_array().unwrap();
        ids.extend(events.iter().map(|e| e["event_id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => return ids,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_survives_kill_9_under_load_and_none_is_stored_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let mut served = Served::start(&db, &[]);
    let base = served.base.clone();
    let next_id = Arc::new(AtomicI64::new(1));
    let acked: Arc<Mutex<Vec<i64>>> = Arc::default();
    let enough = Arc::new(tokio::sync::Notify::new());
    let senders: Vec<_> = (0..32)
        .map(|_| {
            let (base, next_id, acked) = (base.clone(), next_id.clone(), acked.clone());
            let enough = enough.clone();
            tokio::spawn(async move {
                let http = client();
                loop {
                    let id = next_id.fetch_add(1, Ordering::SeqCst);
                    match post(&http, &base, event(id)).await {
                        Ok(200) => {
                            let mut acked = acked.lock().unwrap();
                            acked.push(id);
                            if acked.len() == 1000 {
                                enough.notify_one();
                            }
                        }
                        Ok(status) => panic!("event {id} answered {status}"),
                        Err(_) => return, // the server is gone
                    }
                }
            })
        })
        .collect();
    // Killed right as an answer arrives, while others are being written.
    tokio::time::timeout(Duration::from_secs(60), enough.notified())
        .await
        .expect("1000 events acknowledged within a minute");
    served.kill9();
    for sender in senders {
        sender.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let attempted = next_id.load(Ordering::SeqCst);
    let served = Served::start(&db, &[]);

    let ids = stored_ids(&served.base).await;
    let stored: HashSet<i64> = ids.iter().copied().collect();
    assert_eq!(stored.len(), ids.len(), "an event is stored twice");
    let lost: Vec<_> = acked.iter().filter(|id| !stored.contains(id)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost: {lost:?}",
        lost.len()
    );
    assert!(stored.iter().all(|id| (1..attempted).contains(id)));
    let http = client();
    let sample = acked[acked.len() / 2];
    let body = get_text(&http, &format!("{}/events/{sample}/body", served.base)).await;
    assert_eq!(body, event(sample), "stored byte for byte");
    let again = http
        .post(format!("{}/webhook", served.base))
        .header("content-type", "application/json")
        .body(event(sample))
        .send()
        .await
        .unwrap();
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["duplicate"], true, "the dedup index survived");
}

/// The evicted count is not written with each commit but follows from what is: after
/// SIGKILL it is what `/healthz` said before, also after a duplicate and a conflicting
/// event were refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evicted_count_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let mut served = Served::start(&db, &["--max-events", "3"]);
    let http = client();
    for id in 1..=5 {
        assert_eq!(post(&http, &served.base, event(id)).await.unwrap(), 200);
    }
    assert_eq!(post(&http, &served.base, event(5)).await.unwrap(), 200);
    let conflicting = event(5).replace("number 5", "number five");
    assert_eq!(post(&http, &served.base, conflicting).await.unwrap(), 409);
    assert_eq!(post(&http, &served.base, event(6)).await.unwrap(), 200);
    let before = get_json(&served.base, "/healthz").await;
    assert_eq!(
        (&before["events"], &before["evicted"]),
        (&3.into(), &3.into())
    );
    served.kill9();

    let mut served = Served::start(&db, &["--max-events", "3"]);
    assert_eq!(get_json(&served.base, "/healthz").await, before);
    assert_eq!(post(&http, &served.base, event(7)).await.unwrap(), 200);
    assert_eq!(get_json(&served.base, "/healthz").await["evicted"], 4);
    served.kill9();

    let served = Served::start(&db, &["--max-events", "1"]);
    let health = get_json(&served.base, "/healthz").await;
    assert_eq!(
        (&health["events"], &health["evicted"]),
        (&1.into(), &6.into())
    );
    assert_eq!(stored_ids(&served.base).await, [7]);
}

/// Runs `serve` expecting it to refuse to start; returns its stderr.
fn refused(store: &str, as_nobody: bool) -> String {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookrelay"));
    command
        .args(["serve", "--port", "0", "--store", store])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if as_nobody {
        command.uid(65534).gid(65534);
    }
    let child = command.spawn().unwrap();
    let pid = child.id();
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    let Ok(output) = wait.recv_timeout(Duration::from_secs(20)) else {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        panic!("serve --store {store} started instead of refusing");
    };
    let output = output.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(output.stdout.is_empty(), "it must not say it is listening");
    assert!(stderr.starts_with("hookrelay: error: "), "{stderr}");
    stderr
}

fn garbage_dir(parent: &Path) -> PathBuf {
    let file = parent.join("a-file");
    std::fs::write(&file, "").unwrap();
    file
}

fn sqlite_at(path: &Path) -> String {
    format!("sqlite:{}", path.display())
}

/// A directory this process cannot write to: as root, that takes running hookrelay as
/// another user (when that user may run the binary from where it was built).
fn unwritable_dir(parent: &Path) -> (PathBuf, bool) {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = parent.join("read-only");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    let root = std::fs::write(dir.join("probe"), "").is_ok();
    let nobody_runs_it = || {
        Command::new(env!("CARGO_BIN_EXE_hookrelay"))
            .arg("--version")
            .uid(65534)
            .gid(65534)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    (dir, root && nobody_runs_it())
}

#[test]
fn start_up_refuses_unwritable_garbage_newer_and_busy_files_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();

    let (read_only, as_nobody) = unwritable_dir(dir.path());
    let root = std::fs::metadata(read_only.join("probe")).is_ok();
    if !root || as_nobody {
        let stderr = refused(&sqlite_at(&read_only.join("events.db")), as_nobody);
        assert!(stderr.contains("Permission denied"), "{stderr}");
        assert!(stderr.contains("read-only/events.db"), "{stderr}");
    }
    // Not writable by anyone: the "directory" is a file.
    let stderr = refused(
        &sqlite_at(&garbage_dir(dir.path()).join("events.db")),
        false,
    );
    assert!(stderr.contains("is not a directory"), "{stderr}");

    let missing = dir.path().join("missing").join("events.db");
    let stderr = refused(&sqlite_at(&missing), false);
    assert!(
        stderr.contains("directory") && stderr.contains("missing"),
        "{stderr}"
    );

    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, "not a database at all\n".repeat(300)).unwrap();
    let stderr = refused(&sqlite_at(&garbage), false);
    assert!(stderr.contains("not an SQLite database"), "{stderr}");
    assert_eq!(
        std::fs::read(&garbage).unwrap(),
        "not a database at all\n".repeat(300).into_bytes(),
        "the file is left as it was"
    );

    let newer = dir.path().join("newer.db");
    rusqlite::Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let stderr = refused(&sqlite_at(&newer), false);
    assert!(stderr.contains("schema version 99, newer"), "{stderr}");

    let busy = dir.path().join("busy.db");
    let _first = Served::start(&busy, &[]);
    let stderr = refused(&sqlite_at(&busy), false);
    assert!(stderr.contains("in use by another hookrelay"), "{stderr}");
}

/// POSTs `body` signed by `secret` under the webhook-id `id`; the status and the answer.
pub async fn post_signed(base: &str, secret: &str, id: &str, body: String) -> (u16, Value) {
    use hookrelay::alert::signing::{MessageId, Secret, Signer};
    let signer = Signer::new(vec![Secret::parse(secret).unwrap()]).unwrap();
    let headers = signer.headers(&MessageId::new(id).unwrap(), body.as_bytes());
    let response = client()
        .post(format!("{base}/webhook"))
        .header("content-type", "application/json")
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_webhook_id_stays_a_key_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let secret = hookrelay::alert::signing::Secret::generate()
        .unwrap()
        .to_whsec();
    let args = ["--verify", "standard", "--secret", secret.as_str()];
    let first = Served::start(&db, &args);
    let (status, answer) = post_signed(&first.base, &secret, "msg_1", event(1)).await;
    assert_eq!(status, 200, "{answer}");
    drop(first);

    let again = Served::start(&db, &args);
    let (repeat, repeat_answer) = post_signed(&again.base, &secret, "msg_1", event(1)).await;
    let (reused, reused_answer) = post_signed(&again.base, &secret, "msg_1", event(2)).await;

    assert_eq!(repeat, 200, "{repeat_answer}");
    assert_eq!(repeat_answer["duplicate"], true, "{repeat_answer}");
    assert_eq!(reused, 409, "{reused_answer}");
    assert_eq!(stored_ids(&again.base).await, [1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lower_max_events_at_start_says_what_it_will_evict() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let mut served = Served::start(&db, &[]);
    let http = client();
    for id in 1..=5 {
        assert_eq!(post(&http, &served.base, event(id)).await.unwrap(), 200);
    }
    served.kill9();
    let mut lowered = Served::start(&db, &["--max-events", "2"]);
    lowered.kill9();
    let log = lowered.stderr();
    assert!(
        log.contains("more events than --max-events") && log.contains("the oldest 3 go"),
        "{log}"
    );
}
