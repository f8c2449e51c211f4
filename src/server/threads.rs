//! Threads that each run a single-threaded runtime: the `--workers` that serve requests,
//! one listener each ([`serve_app_per_thread`]), and the relay's delivery workers, kept
//! apart from them ([`RuntimeThreads`]).
//!
//! Tasks on one of these never migrate and never wake another thread to be stolen: a
//! connection's I/O, its timers and its handler's wake-ups, or a delivery worker's notify
//! and its outbound connection, all stay on one thread (what that gained is in
//! `benches/README.md`).

use std::convert::Infallible;
use std::io;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::extract::Request;
use axum::response::Response;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tower::Service;

use super::limits::Limits;
use super::routes::App;
use super::tls::Tls;

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

/// Serves `app` on one thread per listener, each thread with a single-threaded runtime of
/// its own that accepts from its listener and keeps every connection it accepted: a
/// connection's I/O, timers and wake-ups never leave its thread. Returns when every
/// thread has stopped after `stop` (each finishes its requests in flight, as
/// [`super::serve_app`] does).
pub async fn serve_app_per_thread<S>(
    listeners: Vec<std::net::TcpListener>,
    tls: Option<Tls>,
    app: App<S>,
    limits: &Limits,
    stop: CancellationToken,
) -> io::Result<()>
where
    App<S>: Clone + Send + 'static,
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let mut ended = Vec::with_capacity(listeners.len());
    for (i, listener) in listeners.into_iter().enumerate() {
        let (tls, app, limits, until) = (tls.clone(), app.clone(), limits.clone(), stop.clone());
        let (done, end) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("serve-{}", i + 1))
            .spawn(move || {
                let served = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .and_then(|runtime| {
                        runtime.block_on(async move {
                            let listener = tokio::net::TcpListener::from_std(listener)?;
                            super::conn::accept_loop(
                                listener,
                                tls,
                                app,
                                &limits,
                                until.cancelled_owned(),
                            )
                            .await
                        })
                    });
                let _ = done.send(served);
            });
        if let Err(e) = thread {
            stop.cancel();
            return Err(e);
        }
        ended.push(end);
    }
    let mut result = Ok(());
    for end in ended {
        let served = end
            .await
            .unwrap_or_else(|_| Err(io::Error::other("a serving thread panicked")));
        if served.is_err() {
            // One thread cannot serve: the others stop too.
            stop.cancel();
        }
        result = result.and(served);
    }
    result
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
