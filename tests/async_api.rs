//! The async API: every `_async` call driven from tokio's current-thread runtime — one thread,
//! no `spawn_blocking` — with its results checked against the exact reference (or, for softmax,
//! bit for bit against the blocking call that `tests/softmax.rs` checks against it); proof that
//! the futures leave their thread free while the GPU works (another task on the same thread runs
//! meanwhile); futures that are `Send` and run on tokio's multi-threaded runtime; and a stream
//! dropped half-way that leaves the context usable.

mod common;

use std::cell::Cell;
use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use wgpu_activations::{stream, Activation, Context, Mode, Softmax, StreamOptions, Tensor};

fn act(name: &str) -> Activation {
    Activation::by_name(name).unwrap()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// A future that never completes would hang the test; this fails it instead.
async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: not done after 120 s (a wake-up lost?)"))
}

/// What happened while a future ran: how often it was polled and found pending, the longest
/// single poll, and the whole wall time.
#[derive(Debug, Default, Clone, Copy)]
struct Polls {
    pending: usize,
    longest: Duration,
    total: Duration,
}

/// Wraps a future to count its pending polls and time each poll.
struct Watched<F> {
    inner: Pin<Box<F>>,
    polls: Polls,
    start: Option<Instant>,
}

impl<F: Future> Future for Watched<F> {
    type Output = (F::Output, Polls);
    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let start = *self.start.get_or_insert_with(Instant::now);
        let t = Instant::now();
        let r = self.inner.as_mut().poll(cx);
        let took = t.elapsed();
        self.polls.longest = self.polls.longest.max(took);
        match r {
            Poll::Ready(v) => {
                self.polls.total = start.elapsed();
                Poll::Ready((v, self.polls))
            }
            Poll::Pending => {
                self.polls.pending += 1;
                Poll::Pending
            }
        }
    }
}

/// Run `f` next to a task that counts its turns on the same (current) thread until `f` is done:
/// returns `f`'s output, its polls, and the turns the other task got while `f` was pending. A
/// future that blocked its thread until the GPU finished would leave the other task no turn.
async fn beside<F: Future>(f: F) -> (F::Output, Polls, usize) {
    let done = Rc::new(Cell::new(false));
    let turns = Rc::new(Cell::new(0usize));
    let (d, t) = (done.clone(), turns.clone());
    let watched = async move {
        let out = Watched {
            inner: Box::pin(f),
            polls: Polls::default(),
            start: None,
        }
        .await;
        d.set(true);
        out
    };
    let ticker = async move {
        while !done.get() {
            t.set(t.get() + 1);
            tokio::task::yield_now().await;
        }
    };
    let ((out, polls), ()) = tokio::join!(watched, ticker);
    (out, polls, turns.get())
}

#[test]
fn async_calls_on_a_current_thread_runtime_match_the_reference() {
    let Some(ctx) = common::gpu() else { return };
    current_thread().block_on(async {
        // Lengths that are no multiple of the workgroup or vector width.
        for (name, n) in [("gelu", 4099), ("sigmoid", 1001), ("relu", 17)] {
            let a = act(name);
            let x = common::inputs(&a, n);
            let y = within("forward_async", ctx.forward_async(&a, &x))
                .await
                .unwrap();
            common::check("forward_async", &a, Mode::Forward, &x, None, &y);
            let d = within("derivative_async", ctx.derivative_async(&a, &x))
                .await
                .unwrap();
            common::check("derivative_async", &a, Mode::Derivative, &x, None, &d);
            let saved = common::saved_tensor(&a, &x);
            let dy = common::gradients(x.len());
            let dx = within("backward_async", ctx.backward_async(&a, &saved, &dy))
                .await
                .unwrap();
            common::check("backward_async", &a, Mode::Backward, &saved, Some(&dy), &dx);
            let mut inplace = x.clone();
            within(
                "forward_in_place_async",
                ctx.forward_in_place_async(&a, &mut inplace),
            )
            .await
            .unwrap();
            common::check(
                "forward_in_place_async",
                &a,
                Mode::Forward,
                &x,
                None,
                &inplace,
            );
            let mut streamed = x.clone();
            let opts = StreamOptions::default()
                .with_chunk_bytes(4096)
                .with_depth(2);
            within(
                "stream_forward_async",
                ctx.stream_forward_async(&a, &mut streamed, &opts, stream::no_progress),
            )
            .await
            .unwrap();
            common::check(
                "stream_forward_async",
                &a,
                Mode::Forward,
                &x,
                None,
                &streamed,
            );
            let mut streamed = x.clone();
            within(
                "stream_derivative_async",
                ctx.stream_derivative_async(&a, &mut streamed, &opts, stream::no_progress),
            )
            .await
            .unwrap();
            common::check(
                "stream_derivative_async",
                &a,
                Mode::Derivative,
                &x,
                None,
                &streamed,
            );

            let buffer = ctx.upload(&x).unwrap();
            let out = within(
                "forward_to_new_buffer_async",
                ctx.forward_to_new_buffer_async(&a, Tensor::whole(&buffer)),
            )
            .await
            .unwrap();
            let back: Vec<f32> = within("read_async", ctx.read_async(&out, 0, x.len()))
                .await
                .unwrap();
            common::check(
                "forward_to_new_buffer_async",
                &a,
                Mode::Forward,
                &x,
                None,
                &back,
            );
            // A read at an odd offset: the word-aligned copy and the skip.
            let tail: Vec<f32> = within("read_async", ctx.read_async(&buffer, 12, x.len() - 3))
                .await
                .unwrap();
            assert!(bits(&tail) == bits(&x[3..]), "read_async from byte 12");
        }

        // A prepared op whose error checks are awaited, recorded and submitted by the caller.
        let gelu = act("gelu");
        let x = common::inputs(&gelu, 3000);
        let (xb, yb) = (
            ctx.upload(&x).unwrap(),
            ctx.create_tensor::<f32>(x.len()).unwrap(),
        );
        let op = within(
            "checked(prepare_forward)",
            ctx.checked(|| ctx.prepare_forward(&gelu, Tensor::whole(&xb), Tensor::whole(&yb))),
        )
        .await
        .unwrap();
        let mut encoder = ctx.device().create_command_encoder(&Default::default());
        op.record(&mut encoder).unwrap();
        ctx.queue().submit([encoder.finish()]);
        let y: Vec<f32> = within("read_async", ctx.read_async(&yb, 0, x.len()))
            .await
            .unwrap();
        common::check(
            "checked(prepare_forward)",
            &gelu,
            Mode::Forward,
            &x,
            None,
            &y,
        );
        // A checked call's own error comes back as the typed error.
        let short = ctx.create_tensor::<f32>(10).unwrap();
        let bad = ctx
            .checked(|| ctx.prepare_forward(&gelu, Tensor::whole(&xb), Tensor::whole(&short)))
            .await;
        assert!(bad.is_err(), "a too-short output must fail: {bad:?}");

        // prelu's full backward.
        let prelu = act("prelu").with_slopes(vec![0.25, -0.5, 2.0], 5);
        let x = common::random_inputs(7, 3 * 5 * 4);
        let dy = common::gradients(x.len());
        let (dx, da) = within(
            "prelu_backward_async",
            ctx.prelu_backward_async(&prelu, &x, &dy),
        )
        .await
        .unwrap();
        let (sdx, sda) = ctx.prelu_backward(&prelu, &x, &dy).unwrap();
        assert_eq!(bits(&dx), bits(&sdx), "prelu dx: async vs blocking");
        assert_eq!(bits(&da), bits(&sda), "prelu slopes: async vs blocking");

        // The softmax family, along the last axis (the ring) and another one (one piece).
        for sm in [Softmax::softmax(), Softmax::log_softmax()] {
            let (rows, len) = (37, 1031);
            let x = common::random_inputs(11, rows * len);
            for axis in [1usize, 0] {
                let got = within(
                    "softmax_async",
                    ctx.softmax_async(&sm, &x, &[rows, len], axis),
                )
                .await
                .unwrap();
                let want = ctx.softmax(&sm, &x, &[rows, len], axis).unwrap();
                assert_eq!(
                    bits(&got),
                    bits(&want),
                    "{:?} axis {axis}: async vs blocking",
                    sm.kind
                );
                let dy = common::gradients(x.len());
                let got = within(
                    "softmax_backward_async",
                    ctx.softmax_backward_async(&sm, &want, &dy, &[rows, len], axis),
                )
                .await
                .unwrap();
                let blocking = ctx
                    .softmax_backward(&sm, &want, &dy, &[rows, len], axis)
                    .unwrap();
                assert_eq!(
                    bits(&got),
                    bits(&blocking),
                    "{:?} backward axis {axis}",
                    sm.kind
                );
            }
            let mut streamed = x.clone();
            let opts = StreamOptions::default().with_chunk_bytes(len as u64 * 4 * 3);
            within(
                "stream_softmax_async",
                ctx.stream_softmax_async(&sm, &mut streamed, len, &opts, stream::no_progress),
            )
            .await
            .unwrap();
            let want = ctx.softmax(&sm, &x, &[rows, len], 1).unwrap();
            assert_eq!(bits(&streamed), bits(&want), "{:?} streamed", sm.kind);
        }
    });
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn futures_leave_their_thread_free_while_the_gpu_works() {
    let Some(ctx) = common::gpu() else { return };
    current_thread().block_on(async {
        // wgpu's GL backend runs each GL call in the calling thread, and llvmpipe executes a
        // dispatch (and compiles a shader) inside the call: there the futures give correct
        // results but cannot leave their thread free while the device works (README, Backends).
        let gl = ctx
            .adapter_info()
            .is_some_and(|i| i.backend == wgpu_activations::wgpu::Backend::Gl);
        // Each call's waits, summed below: a call whose device work ends before its future first
        // looks (the device on other threads, this one descheduled by a loaded machine) need not
        // wait at all, but a future that blocks its thread never lets the other task run.
        let waited = Cell::new((0usize, 0usize));
        let free = |what: &str, polls: Polls, turns: usize| {
            eprintln!("{what}: {polls:?}, other task's turns: {turns}");
            let (p, t) = waited.get();
            waited.set((p + polls.pending, t + turns));
        };
        let gelu = act("gelu");
        // Large enough that the device needs a while: 16 chunks of 1 MiB through a ring of two.
        let n = 4 << 20;
        let x = common::random_inputs(3, n);
        let mut data = x.clone();
        let opts = StreamOptions::default()
            .with_chunk_bytes(1 << 20)
            .with_depth(2);
        let (r, polls, turns) = within(
            "stream_forward_async",
            beside(ctx.stream_forward_async(&gelu, &mut data, &opts, stream::no_progress)),
        )
        .await;
        r.unwrap();
        free("stream_forward_async, 4 Mi elements", polls, turns);
        let want = ctx.forward(&gelu, &x).unwrap();
        assert_eq!(bits(&data), bits(&want), "streamed vs blocking");

        let (y, polls, turns) = within("forward_async", beside(ctx.forward_async(&gelu, &x))).await;
        assert_eq!(bits(&y.unwrap()), bits(&want));
        free("forward_async, 4 Mi elements", polls, turns);

        let buffer = ctx.upload(&x).unwrap();
        let (back, polls, turns) =
            within("read_async", beside(ctx.read_async::<f32>(&buffer, 0, n))).await;
        assert_eq!(bits(&back.unwrap()), bits(&x));
        free("read_async, 16 MiB", polls, turns);

        let sm = Softmax::softmax();
        // The blocking call first: it builds the pipelines, so that the future's first poll does
        // not compile them (on lavapipe, long enough for the device to finish the work before
        // the future first looks, which then never waits).
        let want_p = ctx.softmax(&sm, &x, &[1024, 4096], 1).unwrap();
        let (p, polls, turns) = within(
            "softmax_async",
            beside(ctx.softmax_async(&sm, &x, &[1024, 4096], 1)),
        )
        .await;
        assert_eq!(bits(&p.unwrap()), bits(&want_p));
        free("softmax_async, 1024x4096", polls, turns);
        let (pending, turns) = waited.get();
        if gl {
            eprintln!("  (GL: the thread-is-free check does not apply)");
        } else {
            assert!(pending >= 1, "no call ever waited");
            assert!(turns >= 1, "the other task never ran while a call waited");
        }
    });
}

#[test]
fn futures_are_send_and_run_on_a_multi_threaded_runtime() {
    fn send<T: Send>(t: T) -> T {
        t
    }
    let Some(ctx) = common::gpu() else { return };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = ["silu", "mish", "elu", "tanh"]
            .into_iter()
            .map(|name| {
                tokio::spawn(send(async move {
                    let a = act(name);
                    let x = common::inputs(&a, 50_000);
                    let y = ctx.forward_async(&a, &x).await.unwrap();
                    (a, x, y)
                }))
            })
            .collect();
        for task in tasks {
            let (a, x, y) = within("spawned forward_async", task).await.unwrap();
            common::check("spawned forward_async", &a, Mode::Forward, &x, None, &y);
        }
        let sm = Softmax::softmax();
        let x = common::random_inputs(5, 64 * 300);
        let p = within(
            "spawned softmax_async",
            tokio::spawn(send(async move {
                ctx.softmax_async(&sm, &x, &[64, 300], 1).await
            })),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(p.len(), 64 * 300);
    });
}

#[test]
fn a_stream_dropped_half_way_leaves_the_context_usable() {
    let Some(ctx) = common::gpu() else { return };
    current_thread().block_on(async {
        let relu = act("relu");
        // 32 chunks of 1 MiB.
        let x = common::random_inputs(9, 8 << 20);
        let mut data = x.clone();
        let opts = StreamOptions::default()
            .with_chunk_bytes(1 << 20)
            .with_depth(3);
        let chunks = Cell::new(0);
        {
            let fut = ctx.stream_forward_async(&relu, &mut data, &opts, |_, _| {
                chunks.set(chunks.get() + 1);
                ControlFlow::Continue(())
            });
            // Dropped once a chunk is back, with later ones in flight.
            let mut fut = std::pin::pin!(fut);
            std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
                Poll::Ready(r) => Poll::Ready(Some(r)),
                Poll::Pending if chunks.get() > 0 => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            })
            .await;
        }
        let chunks = chunks.get();
        // On wgpu's GL backend llvmpipe runs each chunk inside its submit, so the future may
        // finish without ever waiting (README, Backends): there the drop can come too late, and
        // what is left to check is that the context stays usable.
        let gl = ctx
            .adapter_info()
            .is_some_and(|i| i.backend == wgpu_activations::wgpu::Backend::Gl);
        assert!(
            (1..32).contains(&chunks) || (gl && chunks == 32),
            "the stream was to be dropped before its end ({chunks} chunks)"
        );
        eprintln!("dropped after {chunks} of 32 chunks");
        // The elements written back hold results, the others their inputs.
        for (i, (&d, &v)) in data.iter().zip(&x).enumerate() {
            assert!(d == v || d == v.max(0.0), "[{i}] {v} -> {d}");
        }
        let y = within("forward_async after a drop", ctx.forward_async(&relu, &x))
            .await
            .unwrap();
        common::check(
            "forward_async after a drop",
            &relu,
            Mode::Forward,
            &x,
            None,
            &y,
        );
    });
}

#[test]
fn a_context_made_without_blocking() {
    if common::gpu().is_none() {
        return;
    }
    current_thread().block_on(async {
        let ctx = within("Context::new_async", Context::new_async())
            .await
            .unwrap();
        let a = act("softplus");
        let x = common::inputs(&a, 777);
        let y = within("forward_async", ctx.forward_async(&a, &x))
            .await
            .unwrap();
        common::check(
            "forward_async on a new context",
            &a,
            Mode::Forward,
            &x,
            None,
            &y,
        );
    });
}

/// The GLU family's async calls (streamed along the last axis, in one piece along another, and
/// the two-input form) on a current-thread runtime give the blocking calls' bits, which
/// `tests/glu.rs` checks against the exact reference.
#[test]
fn glu_async_calls_match_the_blocking_ones() {
    let Some(ctx) = common::gpu() else { return };
    let rt = current_thread();
    let g = wgpu_activations::Glu::swiglu();
    let shape = [6usize, 2 * 37];
    let n: usize = shape.iter().product();
    let x: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 113) as f32 / 9.0 - 6.0)
        .collect();
    let dy: Vec<f32> = (0..n / 2)
        .map(|i| ((i * 31) % 17) as f32 / 4.0 - 2.0)
        .collect();
    for axis in [-1i64, 0] {
        let (s, a) = if axis == 0 {
            ([2 * 3, 74], 0isize)
        } else {
            (shape, -1)
        };
        let want = ctx.glu(&g, &x, &s, a).unwrap();
        let got = rt
            .block_on(within("glu_async", ctx.glu_async(&g, &x, &s, a)))
            .unwrap();
        assert_eq!(bits(&got), bits(&want), "glu_async axis {axis}");
        let dyl = &dy[..want.len()];
        let want = ctx.glu_backward(&g, &x, dyl, &s, a).unwrap();
        let got = rt
            .block_on(within(
                "glu_backward_async",
                ctx.glu_backward_async(&g, &x, dyl, &s, a),
            ))
            .unwrap();
        assert_eq!(bits(&got), bits(&want), "glu_backward_async axis {axis}");
    }
    let (gate, value) = x.split_at(n / 2);
    let want = ctx.glu_pair(&g, gate, value).unwrap();
    let got = rt
        .block_on(within(
            "glu_pair_async",
            ctx.glu_pair_async(&g, gate, value),
        ))
        .unwrap();
    assert_eq!(bits(&got), bits(&want), "glu_pair_async");
    let (wg, wv) = ctx.glu_pair_backward(&g, gate, value, &dy).unwrap();
    let (gg, gv) = rt
        .block_on(within(
            "glu_pair_backward_async",
            ctx.glu_pair_backward_async(&g, gate, value, &dy),
        ))
        .unwrap();
    assert_eq!(
        (bits(&gg), bits(&gv)),
        (bits(&wg), bits(&wv)),
        "glu_pair_backward_async"
    );
}
