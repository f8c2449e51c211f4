//! Polling a task again at once when it wakes itself, instead of through the scheduler.
//! Connections (`conn`) and relay workers (`relay`) run under it.

use crate::sync::LockExt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

/// Runs a future so that a wake-up it causes to itself while being polled makes it be
/// polled again at once, instead of going back through the scheduler.
///
/// hyper's connection wakes its own task on every request that has a body: the handler
/// taking the body from its channel wakes the connection to read more, and the data sent
/// wakes the handler, both inside the same poll. A task woken while it runs counts as a
/// yield in tokio's multi-threaded runtime, which re-queues it and wakes an idle worker
/// thread to steal it: a futex wake, a context switch and a migration per request (what
/// that cost is in `benches/README.md`).
/// Wake-ups from elsewhere, and any after the poll, reach the task as usual.
pub(super) struct WakesInline<F> {
    inner: Pin<Box<F>>,
    wake: Arc<InlineWake>,
    waker: std::task::Waker,
}

/// Polls again at most this many times in a row; then the wake goes to the scheduler
/// (so that a future out of tokio's cooperative budget, which wakes itself and returns
/// `Pending`, still yields).
const MAX_INLINE_POLLS: usize = 4;

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const WOKEN: u8 = 2;

struct InlineWake {
    state: std::sync::atomic::AtomicU8,
    /// The task's own waker, for wakes that come while it is not being polled.
    task: std::sync::Mutex<Option<std::task::Waker>>,
}

impl std::task::Wake for InlineWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let noted =
            self.state
                .compare_exchange(POLLING, WOKEN, Ordering::AcqRel, Ordering::Acquire);
        match noted {
            // Being polled: the poller polls again.
            Ok(_) | Err(WOKEN) => {}
            Err(_) => {
                let task = self.task.locked();
                if let Some(waker) = task.as_ref() {
                    waker.wake_by_ref();
                }
            }
        }
    }
}

impl<F: Future> WakesInline<F> {
    pub(super) fn new(inner: F) -> Self {
        let wake = Arc::new(InlineWake {
            state: std::sync::atomic::AtomicU8::new(IDLE),
            task: std::sync::Mutex::new(None),
        });
        Self {
            inner: Box::pin(inner),
            waker: std::task::Waker::from(Arc::clone(&wake)),
            wake,
        }
    }

    pub(super) fn inner(self: Pin<&mut Self>) -> Pin<&mut F> {
        self.get_mut().inner.as_mut()
    }
}

impl<F: Future> Future for WakesInline<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        {
            let mut task = this.wake.task.locked();
            if !task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        let mut inner_cx = Context::from_waker(&this.waker);
        for _ in 0..MAX_INLINE_POLLS {
            this.wake.state.store(POLLING, Ordering::Release);
            if let Poll::Ready(output) = this.inner.as_mut().poll(&mut inner_cx) {
                this.wake.state.store(IDLE, Ordering::Release);
                return Poll::Ready(output);
            }
            let settled = this.wake.state.compare_exchange(
                POLLING,
                IDLE,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            if settled.is_ok() {
                return Poll::Pending;
            }
        }
        this.wake.state.store(IDLE, Ordering::Release);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::task::{Wake, Waker};

    use super::*;

    /// Counts the wakes the task gets.
    #[derive(Default)]
    struct Task(AtomicUsize);

    impl Task {
        /// A task and the waker that counts its wakes.
        fn new() -> (Arc<Self>, Waker) {
            let task = Arc::new(Self::default());
            (Arc::clone(&task), Waker::from(task))
        }
    }

    impl Wake for Task {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Wakes itself (as hyper's connection does) `times` times, then is ready.
    struct WakesItself {
        times: usize,
        polls: usize,
    }

    impl Future for WakesItself {
        type Output = usize;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            self.polls += 1;
            if self.polls > self.times {
                return Poll::Ready(self.polls);
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn a_wake_during_the_poll_polls_again_without_the_scheduler() {
        let (task, waker) = Task::new();
        let mut cx = Context::from_waker(&waker);
        let mut future = Box::pin(WakesInline::new(WakesItself { times: 2, polls: 0 }));
        assert_eq!(future.as_mut().poll(&mut cx), Poll::Ready(3));
        assert_eq!(task.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_future_that_keeps_waking_itself_still_yields_to_the_scheduler() {
        let (task, waker) = Task::new();
        let mut cx = Context::from_waker(&waker);
        let mut future = Box::pin(WakesInline::new(WakesItself {
            times: usize::MAX,
            polls: 0,
        }));
        assert_eq!(future.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(task.0.load(Ordering::SeqCst), 1);
        assert_eq!(future.inner.polls, MAX_INLINE_POLLS);
    }

    /// Pending on its first poll, keeping the waker it was given; ready on the second.
    #[derive(Default)]
    struct WaitsForAWake {
        waker: Arc<std::sync::Mutex<Option<Waker>>>,
        polled: bool,
    }

    impl Future for WaitsForAWake {
        type Output = &'static str;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
            if self.polled {
                return Poll::Ready("woken");
            }
            self.polled = true;
            *self.waker.locked() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    #[test]
    fn a_wake_from_elsewhere_reaches_the_task() {
        let (task, waker) = Task::new();
        let mut cx = Context::from_waker(&waker);
        let inner = WaitsForAWake::default();
        let stored = Arc::clone(&inner.waker);
        let mut future = Box::pin(WakesInline::new(inner));

        assert_eq!(future.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(task.0.load(Ordering::SeqCst), 0, "no wake yet");

        // The poll is over: a wake from another thread must go to the task's own waker.
        let from_elsewhere = stored
            .locked()
            .take()
            .expect("the inner future kept a waker");
        std::thread::spawn(move || from_elsewhere.wake())
            .join()
            .unwrap();
        assert_eq!(task.0.load(Ordering::SeqCst), 1, "the task was woken");

        assert_eq!(future.as_mut().poll(&mut cx), Poll::Ready("woken"));
    }
}
