//! Waiting without blocking: the futures the async API awaits for GPU work and buffer maps, the
//! per-context poller thread that makes wgpu fire their callbacks on native backends, and
//! WebGPU's error scopes awaited instead of blocked on.
//!
//! # Why a poller thread
//!
//! On native backends wgpu runs a `map_async` or `on_submitted_work_done` callback only from
//! inside `Device::poll`. A future cannot call `poll(Wait)` (that parks the executor's thread
//! until the GPU is done), and a future that calls `poll(Poll)` and re-wakes itself at once spins
//! a core for as long as the GPU works — the very cores a software adapter like lavapipe computes
//! on — while a timer to back off with would tie the crate to one executor. So each context
//! starts, on its first wait, one thread of its own: it sleeps on a condition variable while
//! nothing is pending, and otherwise waits on the oldest pending submission (`poll(Wait)` with
//! that submission's index; on GL, whose wait holds the GL context, a non-blocking `poll(Poll)`
//! with a short sleep between tries, under the crate's GL lock). The callbacks it fires complete
//! [`Signal`]s and wake their futures on whatever executor polls them. The blocking API waits on
//! the same futures with `pollster`, so both APIs take one path.
//!
//! On `wasm32` there is no thread and no poll: the browser settles WebGPU's promises from its
//! event loop, and wgpu runs the callbacks then.
//!
//! # Error scopes
//!
//! Every call of the crate runs inside validation, internal and out-of-memory error scopes. On
//! native backends popping one yields a future that is already complete, so its result is taken
//! at once ([`ready_now`]) and the synchronous code judges it as before. On WebGPU the result comes
//! back later, from the GPU process: inside [`capture`] (which every `_async` call and
//! [`Context::checked`](crate::Context::checked) sets up) the pending pops are kept and awaited
//! afterwards ([`Captured::settle`]), so no thread ever waits for them.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll, Waker};

use crate::base::error::{Error, Result};

/// A one-shot completion: set once by a wgpu callback (or by the poller when the device is lost),
/// awaited once through [`Wait`].
pub(crate) struct Signal {
    state: Mutex<SignalState>,
}

#[derive(Default)]
struct SignalState {
    done: Option<Result<()>>,
    taken: bool,
    waker: Option<Waker>,
}

impl Signal {
    pub(crate) fn new() -> Arc<Signal> {
        Arc::new(Signal {
            state: Mutex::new(SignalState::default()),
        })
    }

    /// Complete with `result` (the first completion wins) and wake the waiting future.
    pub(crate) fn complete(&self, result: Result<()>) {
        let waker = match self.state.lock() {
            Ok(mut s) => {
                if s.done.is_none() && !s.taken {
                    s.done = Some(result);
                }
                s.waker.take()
            }
            Err(_) => None,
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Whether it has completed (its future may not have seen it yet).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn is_done(&self) -> bool {
        self.state
            .lock()
            .map_or(true, |s| s.done.is_some() || s.taken)
    }
}

/// The future of a [`Signal`]: ready when the callback has run.
#[must_use = "a wait does nothing unless awaited"]
pub(crate) struct Wait {
    signal: Arc<Signal>,
}

impl Wait {
    pub(crate) fn new(signal: Arc<Signal>) -> Wait {
        Wait { signal }
    }
}

impl Future for Wait {
    type Output = Result<()>;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Result<()>> {
        let Ok(mut s) = self.signal.state.lock() else {
            return Poll::Ready(Err(Error::Map("a wait's state was poisoned".into())));
        };
        if let Some(r) = s.done.take() {
            s.taken = true;
            return Poll::Ready(r);
        }
        if s.taken {
            return Poll::Ready(Err(Error::Map("a wait was awaited twice".into())));
        }
        match &mut s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// The output of `f` if it is already complete: the result of a native error-scope pop.
pub(crate) fn ready_now<F: Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut TaskContext::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// The future a popped error scope returns (`Send` where wgpu's is: not on wasm32).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type ScopeFuture = Pin<Box<dyn Future<Output = Option<wgpu::Error>> + Send>>;
/// The future a popped error scope returns (`Send` where wgpu's is: not on wasm32).
#[cfg(target_arch = "wasm32")]
pub(crate) type ScopeFuture = Pin<Box<dyn Future<Output = Option<wgpu::Error>>>>;

/// Turns a caught wgpu error into the crate's error for the call that caught it.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) type ErrorOf = Box<dyn FnOnce(wgpu::Error) -> Error + Send>;
/// Turns a caught wgpu error into the crate's error for the call that caught it.
#[cfg(target_arch = "wasm32")]
pub(crate) type ErrorOf = Box<dyn FnOnce(wgpu::Error) -> Error>;

/// Error scopes whose results were not ready when popped (WebGPU), kept for [`Captured::settle`].
struct Deferred {
    scopes: Vec<ScopeFuture>,
    error: ErrorOf,
}

thread_local! {
    /// The pops deferred by the innermost [`capture`] on this thread, when one is running.
    static DEFERRED: RefCell<Option<Vec<Deferred>>> = const { RefCell::new(None) };
}

/// Whether a [`capture`] is running on this thread.
pub(crate) fn capturing() -> bool {
    DEFERRED.with(|d| d.borrow().is_some())
}

/// Keep `scopes` for the enclosing [`capture`]; false when none is running on this thread.
pub(crate) fn defer(scopes: Vec<ScopeFuture>, error: ErrorOf) -> bool {
    DEFERRED.with(|d| match &mut *d.borrow_mut() {
        Some(list) => {
            list.push(Deferred { scopes, error });
            true
        }
        None => false,
    })
}

/// The result of a synchronous call run under [`capture`], with the error scopes it could not
/// judge at once.
#[must_use = "settle it to learn the call's errors"]
pub(crate) struct Captured<R> {
    out: Result<R>,
    deferred: Vec<Deferred>,
}

/// Run the synchronous `f`, keeping the error scopes that were not ready when popped.
pub(crate) fn capture<R>(f: impl FnOnce() -> Result<R>) -> Captured<R> {
    let outer = DEFERRED.with(|d| d.borrow_mut().replace(Vec::new()));
    let out = f();
    let deferred = DEFERRED.with(|d| std::mem::replace(&mut *d.borrow_mut(), outer));
    Captured {
        out,
        deferred: deferred.unwrap_or_default(),
    }
}

impl<R> Captured<R> {
    /// Await the deferred scopes: the first error caught is the call's error; otherwise `f`'s
    /// result. Nothing to await on native backends.
    pub(crate) async fn settle(self) -> Result<R> {
        let mut first = None;
        for d in self.deferred {
            let mut caught = None;
            for scope in d.scopes {
                if let Some(e) = scope.await {
                    caught.get_or_insert(e);
                }
            }
            if let (None, Some(e)) = (&first, caught) {
                first = Some((d.error)(e));
            }
        }
        match first {
            Some(e) => Err(e),
            None => self.out,
        }
    }
}

/// The thread that polls a native device while futures wait on it (see the module docs).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) struct Poller {
    shared: Arc<PollerShared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[cfg(not(target_arch = "wasm32"))]
struct PollerShared {
    state: Mutex<PollerState>,
    wake: std::sync::Condvar,
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(Default)]
struct PollerState {
    /// Pending signals with the submission each waits for, oldest first.
    pending: std::collections::VecDeque<(Arc<Signal>, wgpu::SubmissionIndex)>,
    stop: bool,
}

#[cfg(not(target_arch = "wasm32"))]
impl Poller {
    /// Start the thread for `device`; `gl` selects the GL backend's non-blocking polls.
    pub(crate) fn start(device: wgpu::Device, gl: bool) -> Result<Poller> {
        let shared = Arc::new(PollerShared {
            state: Mutex::new(PollerState::default()),
            wake: std::sync::Condvar::new(),
        });
        let theirs = shared.clone();
        let thread = std::thread::Builder::new()
            .name("wgpu-activations poller".into())
            .spawn(move || poll_loop(&device, gl, &theirs))
            .map_err(|e| Error::Wgpu {
                label: "poller".into(),
                message: format!("could not start the poller thread: {e}"),
            })?;
        Ok(Poller {
            shared,
            thread: Some(thread),
        })
    }

    /// Poll until `signal` completes (its callback waits for `index`).
    pub(crate) fn watch(&self, signal: Arc<Signal>, index: wgpu::SubmissionIndex) {
        if let Ok(mut s) = self.shared.state.lock() {
            s.pending.push_back((signal, index));
        }
        self.shared.wake.notify_one();
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Drop for Poller {
    fn drop(&mut self) {
        // The thread finishes its current poll (at most a second) and exits. It holds a handle
        // of the device: joined here, so that the device is gone when the context is, and not
        // torn down on this thread while the process exits (which crashed Mesa's drivers).
        if let Ok(mut s) = self.shared.state.lock() {
            s.stop = true;
        }
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // A context dropped from a callback the poller itself runs cannot wait for it.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn poll_loop(device: &wgpu::Device, gl: bool, shared: &PollerShared) {
    use std::time::Duration;
    let mut backoff = Duration::from_micros(50);
    loop {
        let index = {
            let Ok(mut s) = shared.state.lock() else {
                return;
            };
            loop {
                s.pending.retain(|(signal, _)| !signal.is_done());
                if s.stop {
                    return;
                }
                if let Some((_, index)) = s.pending.front() {
                    break index.clone();
                }
                backoff = Duration::from_micros(50);
                s = match shared.wake.wait(s) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            }
        };
        let polled = if gl {
            // GL's wait holds the GL context (every other GL call's lock) for its whole length:
            // look, under the crate's GL lock, and sleep a little between looks instead.
            let _gl = crate::gpu::context::GlGuard::new(true);
            device.poll(wgpu::PollType::Poll)
        } else {
            device.poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: Some(Duration::from_secs(1)),
            })
        };
        // Not there yet (GL's look, or a callback that needs another poll): back off a little
        // rather than spin.
        let front_pending = shared.state.lock().is_ok_and(|s| {
            s.pending
                .front()
                .is_some_and(|(signal, _)| !signal.is_done())
        });
        if front_pending && polled.is_ok() {
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(2));
        }
        match polled {
            Ok(_) | Err(wgpu::PollError::Timeout) => {}
            Err(e) => {
                // The device is gone: no callback will come; fail every waiter.
                let pending = match shared.state.lock() {
                    Ok(mut s) => std::mem::take(&mut s.pending),
                    Err(_) => return,
                };
                for (signal, _) in pending {
                    signal.complete(Err(Error::DeviceLost(e.to_string())));
                }
            }
        }
    }
}
