//! Threads that each run a single-threaded runtime, for work kept apart from the
//! multi-threaded runtime that serves requests (the relay's delivery workers).
//!
//! Tasks on one of these never migrate and never wake another thread to be stolen: a
//! delivery worker's notify, its outbound connection's I/O and its timers all stay on
//! one thread (what that gained the relay is in `benches/README.md`). These threads are
//! not the `--workers` that serve requests.

use std::io;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

/// Threads, each with a runtime of its own, started by [`RuntimeThreads::start`];
/// [`RuntimeThreads::stop`] ends them and waits. Dropped without `stop` (the server failed
/// after starting them), they are told to end and their tasks are dropped, without waiting.
pub struct RuntimeThreads {
    handles: Vec<Handle>,
    threads: Vec<JoinHandle<()>>,
    done: CancellationToken,
}

impl RuntimeThreads {
    /// Starts `count` threads named `NAME-1` … `NAME-count`, each running its own runtime
    /// until [`RuntimeThreads::stop`].
    pub fn start(name: &str, count: usize) -> io::Result<Self> {
        let done = CancellationToken::new();
        let mut threads = Vec::with_capacity(count);
        let mut handles = Vec::with_capacity(count);
        for i in 1..=count {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let until = done.clone();
            let thread = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    runtime.block_on(until.cancelled());
                    // Blocking work still running (a store call) gets a moment to end.
                    runtime.shutdown_timeout(Duration::from_secs(1));
                });
            match thread {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    done.cancel();
                    return Err(e);
                }
            }
        }
        Ok(Self {
            handles,
            threads,
            done,
        })
    }

    /// The threads' runtimes, to spawn on.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// Ends the threads and waits for them. Tasks still on their runtimes are dropped.
    pub fn stop(mut self) {
        self.done.cancel();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for RuntimeThreads {
    fn drop(&mut self) {
        self.done.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_run_on_the_named_threads_until_stopped() {
        let threads = RuntimeThreads::start("test-worker", 2).unwrap();
        let names: Vec<String> = threads
            .handles()
            .iter()
            .map(|runtime| {
                let (tx, rx) = std::sync::mpsc::channel();
                runtime.spawn(async move {
                    let name = std::thread::current().name().map(str::to_owned);
                    tx.send(name).unwrap();
                });
                rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap()
            })
            .collect();
        assert_eq!(names, ["test-worker-1", "test-worker-2"]);

        // A task that never ends is dropped when the threads stop.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        threads.handles()[0].spawn(async move {
            let _tx = tx;
            std::future::pending::<()>().await;
        });
        threads.stop();
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        );
    }

    #[test]
    fn dropped_without_stop_the_threads_end_and_drop_their_tasks() {
        let threads = RuntimeThreads::start("test-dropped", 1).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        threads.handles()[0].spawn(async move {
            let _tx = tx;
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await;
        });
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        drop(threads);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        );
    }
}
