//! Integration tests of the `wgpu-activations` binary: they run it on temporary `.npy` files and
//! check its outputs against the library's exact reference, and its failures for the one-line
//! `error:` message, the exit code and the untouched output path.
//!
//! Tests that need a GPU adapter return early (saying so) when `WGPU_ACTIVATIONS_SKIP_GPU=1`, as
//! the library's GPU tests do.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use npyz::WriterBuilder;
use wgpu_activations::reference::{
    self, backward_factor_exact, derivative_exact, forward_exact, params_at,
};
use wgpu_activations::ulp::ulp_error;
use wgpu_activations::{Activation, OpKind, Saved};

const BIN: &str = env!("CARGO_BIN_EXE_wgpu-activations");

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// True (after saying so) when GPU tests are switched off.
fn skip_gpu(test: &str) -> bool {
    if std::env::var("WGPU_ACTIVATIONS_SKIP_GPU").is_ok_and(|v| v == "1") {
        eprintln!("{test}: GPU part SKIPPED: WGPU_ACTIVATIONS_SKIP_GPU=1");
        return true;
    }
    false
}

/// Run the binary with `args`.
fn run<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    run_env(args, &[])
}

/// Run the binary with `args` and extra environment variables.
fn run_env<I, S>(args: I, env: &[(&str, &str)]) -> Output
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let mut cmd = Command::new(BIN);
    cmd.args(args.into_iter().map(Into::into));
    // Without it the Vulkan loader prints a harmless line on stderr.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        cmd.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Assert success, showing stderr otherwise.
fn assert_ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: exit {:?}, stderr:\n{}",
        o.status.code(),
        stderr(o)
    );
}

fn write_npy<T: npyz::AutoSerialize + Copy>(path: &Path, shape: &[u64], data: &[T]) {
    write_npy_order(path, shape, data, npyz::Order::C)
}

fn write_npy_order<T: npyz::AutoSerialize + Copy>(
    path: &Path,
    shape: &[u64],
    data: &[T],
    order: npyz::Order,
) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).expect("create .npy"));
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .order(order)
        .writer(file)
        .begin_nd()
        .expect("npy header");
    w.extend(data.iter().copied()).expect("npy data");
    w.finish().expect("npy finish");
}

/// Read a float32 C-order .npy: (shape, data).
fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let f = npyz::NpyFile::new(&bytes[..]).expect("valid .npy");
    assert_eq!(f.dtype().descr(), "'<f4'", "output dtype");
    assert_eq!(f.order(), npyz::Order::C, "output order");
    let shape = f.shape().to_vec();
    (shape, f.into_vec::<f32>().expect("f32 data"))
}

/// Test inputs: a spread of ordinary values plus zeros, tiny and large ones.
fn inputs(n: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..n)
        .map(|i| ((i * 37 % 97) as f32 - 48.0) * 0.173 + 0.011)
        .collect();
    let special = [0.0, -0.0, 1e-30, -1e-30, 20.0, -20.0, 88.0, -100.0];
    for (k, s) in special.iter().enumerate() {
        v[k * 3 % n] = *s;
    }
    v
}

/// Upstream gradients: seeded-looking, symmetric, with a zero.
fn grads(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 53 % 31) as f32 - 15.0) * 0.25)
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Forward,
    Derivative,
    Backward,
}

/// The ULP bound: forward 4 (piecewise-linear ops 0.5, correctly rounded), else 8.
fn bound(op: OpKind, mode: Mode) -> f64 {
    match mode {
        Mode::Forward if op.spec().piecewise_linear => 0.5,
        Mode::Forward => 4.0,
        _ => 8.0,
    }
}

/// Check `got` against the exact reference values within the mode's ULP bound. `a` is the
/// forward input, or the saved tensor in backward. `Err` describes the worst offender.
fn check_ulps(
    what: &str,
    act: &Activation,
    mode: Mode,
    a: &[f32],
    dy: Option<&[f32]>,
    got: &[f32],
) -> Result<(), String> {
    assert_eq!(got.len(), a.len(), "{what}: length");
    let limit = bound(act.op(), mode);
    let (mut worst, mut at, mut bad) = (0.0f64, 0usize, 0usize);
    let mut want = Vec::with_capacity(a.len());
    for i in 0..a.len() {
        let p = params_at(act, i);
        let exact = match mode {
            Mode::Forward => forward_exact(act.op(), p, a[i]),
            Mode::Derivative => derivative_exact(act.op(), p, a[i]),
            Mode::Backward => dy.expect("dy")[i] as f64 * backward_factor_exact(act.op(), p, a[i]),
        };
        want.push(exact);
        let e = ulp_error(got[i], exact);
        if e > limit {
            bad += 1;
        }
        if e > worst || (e.is_nan() && !worst.is_nan()) {
            (worst, at) = (e, i);
        }
    }
    eprintln!("{what}: max {worst:.3} ULP over {} values", a.len());
    if bad == 0 {
        return Ok(());
    }
    Err(format!(
        "{what}: {bad} of {} values above {limit} ULP; worst [{at}] input {:e} got {:e} want {:e}: {worst:.2} ULP",
        a.len(),
        a[at],
        got[at],
        want[at]
    ))
}

/// Run `apply` forward, derivative and backward for a few ops on `device` with a 3-D shape and
/// check shape and values.
fn check_device(device: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let shape = [3u64, 4, 5];
    let n = 60;
    let x = inputs(n);
    let dy = grads(n);
    let cases: [(&str, &[&str]); 4] = [
        ("leaky_relu", &["negative_slope=0.2"]),
        ("sigmoid", &[]),
        ("elu", &["alpha=1.5"]),
        ("tanh", &[]),
    ];
    let mut failures = Vec::new();
    for (name, params) in cases {
        let settings: Vec<(String, f32)> = params
            .iter()
            .map(|s| {
                let (k, v) = s.split_once('=').expect("NAME=VALUE");
                (k.to_string(), v.parse().expect("number"))
            })
            .collect();
        let act = Activation::parse(name, &settings).expect("valid activation");
        // The saved tensor the backward pass reads: x, or y = f(x) for ops that save the output.
        let saved = match act.op().spec().saved {
            Saved::Input => x.clone(),
            Saved::Output => reference::forward(&act, &x),
        };
        let x_path = dir.path().join(format!("{name}_x.npy"));
        let s_path = dir.path().join(format!("{name}_saved.npy"));
        let dy_path = dir.path().join(format!("{name}_dy.npy"));
        write_npy(&x_path, &shape, &x);
        write_npy(&s_path, &shape, &saved);
        write_npy(&dy_path, &shape, &dy);
        for mode in [Mode::Forward, Mode::Derivative, Mode::Backward] {
            let out = dir.path().join(format!("{name}_{mode:?}_{device}.npy"));
            let input = if mode == Mode::Backward {
                &s_path
            } else {
                &x_path
            };
            let mut args: Vec<OsString> = vec![
                "apply".into(),
                name.into(),
                "--input".into(),
                input.into(),
                "--output".into(),
                out.clone().into(),
                "--device".into(),
                device.into(),
            ];
            for p in params {
                args.push("--param".into());
                args.push((*p).into());
            }
            match mode {
                Mode::Forward => {}
                Mode::Derivative => args.push("--derivative".into()),
                Mode::Backward => {
                    args.push("--backward".into());
                    args.push("--grad".into());
                    args.push(dy_path.clone().into());
                }
            }
            let what = format!("{name} {mode:?} on {device}");
            assert_ok(&run(&args), &what);
            let (got_shape, got) = read_npy(&out);
            assert_eq!(got_shape, shape, "{what}: shape");
            let a = if mode == Mode::Backward { &saved } else { &x };
            let dy_used = (mode == Mode::Backward).then_some(&dy[..]);
            if let Err(e) = check_ulps(&what, &act, mode, a, dy_used, &got) {
                failures.push(e);
            }
            if device == "reference" {
                // The reference device is the library's reference, bit for bit.
                let want = match mode {
                    Mode::Forward => reference::forward(&act, &x),
                    Mode::Derivative => reference::derivative(&act, &x),
                    Mode::Backward => reference::backward(&act, &saved, &dy).expect("backward"),
                };
                let same = got
                    .iter()
                    .zip(&want)
                    .all(|(g, w)| g.to_bits() == w.to_bits());
                assert!(same, "{what}: differs from wgpu_activations::reference");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "out of bounds:\n{}",
        failures.join("\n")
    );
}

/// Run a failing command twice: with no output file (it must not appear) and over an existing
/// output (it must stay as it was). Each time: exit code `code`, exactly one stderr line starting
/// with `error:`, and nothing else left in the output's folder. `args` gets the output path.
fn expect_error(dir: &Path, code: i32, args: impl Fn(&Path) -> Vec<OsString>) -> String {
    let before: Vec<PathBuf> = listing(dir);
    let out = dir.join("out.npy");
    let o = run(args(&out));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "exit code; stderr:\n{err}");
    assert_eq!(err.lines().count(), 1, "one stderr line, got:\n{err}");
    assert!(
        err.starts_with("error: "),
        "stderr starts with `error: `, got:\n{err}"
    );
    assert!(!out.exists(), "no output file is left behind");
    assert_eq!(listing(dir), before, "no temporary file is left behind");

    let sentinel = b"do not touch".to_vec();
    std::fs::write(&out, &sentinel).expect("write sentinel");
    let o = run(args(&out));
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit code over an existing output; stderr:\n{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(&out).expect("output still there"),
        sentinel,
        "existing output untouched"
    );
    std::fs::remove_file(&out).expect("remove sentinel");
    assert_eq!(listing(dir), before, "no temporary file is left behind");
    eprintln!("stderr: {}", err.trim_end());
    err
}

fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .collect();
    v.sort();
    v
}

/// `apply OP -i INPUT -o OUT` plus `extra`.
fn apply_args(op: &str, input: &Path, out: &Path, extra: &[&str]) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec![
        "apply".into(),
        op.into(),
        "-i".into(),
        input.into(),
        "-o".into(),
        out.into(),
    ];
    v.extend(extra.iter().map(OsString::from));
    v
}

/// A small valid float32 input `[2, 3]` in `dir`.
fn small_input(dir: &Path) -> PathBuf {
    let p = dir.join("x.npy");
    write_npy(&p, &[2, 3], &[-2.0f32, -1.0, 0.0, 1.0, 2.0, 3.0]);
    p
}

// ---------------------------------------------------------------------------------------------
// info and ops
// ---------------------------------------------------------------------------------------------

#[test]
fn info_prints_adapter_and_software_note() {
    if skip_gpu("info_prints_adapter_and_software_note") {
        return;
    }
    let o = run(["info"]);
    assert_ok(&o, "info");
    let text = stdout(&o);
    eprintln!("{text}");
    let ctx = wgpu_activations::Context::new()
        .expect("a GPU adapter (or set WGPU_ACTIVATIONS_SKIP_GPU=1)");
    let name = &ctx.adapter_info().expect("adapter info").name;
    assert!(
        text.contains(name.as_str()),
        "info names the adapter {name}"
    );
    for key in [
        "max_buffer_size",
        "max_storage_buffer_binding_size",
        "max_compute_workgroups_per_dimension",
        "max_compute_invocations_per_workgroup",
        "max_compute_workgroup_storage_size",
        "min_storage_buffer_offset_alignment",
        "SHADER_F16",
        "SUBGROUP",
        "TIMESTAMP_QUERY",
    ] {
        assert!(text.contains(key), "info shows {key}");
    }
    assert_eq!(
        ctx.is_software(),
        text.contains("software"),
        "the software note appears exactly on a software device"
    );
}

#[test]
fn ops_and_apply_help_list_every_op() {
    let ops = run(["ops"]);
    assert_ok(&ops, "ops");
    let help = run(["apply", "--help"]);
    assert_ok(&help, "apply --help");
    let (ops, help) = (stdout(&ops), stdout(&help));
    for &op in OpKind::ALL {
        assert!(
            ops.lines().any(|l| l.starts_with(op.name())),
            "ops lists {}",
            op.name()
        );
        assert!(help.contains(op.name()), "apply --help lists {}", op.name());
        for p in op.spec().params {
            let want = format!("{}={}", p.name, p.default);
            assert!(ops.contains(&want), "ops shows {want}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// apply: values
// ---------------------------------------------------------------------------------------------

#[test]
fn apply_on_gpu_matches_reference() {
    if skip_gpu("apply_on_gpu_matches_reference") {
        return;
    }
    check_device("gpu");
}

#[test]
fn apply_on_cpu_matches_reference() {
    check_device("cpu");
}

#[test]
fn apply_on_reference_is_the_reference() {
    check_device("reference");
}

#[test]
fn rrelu_training_gpu_equals_cpu_bitwise() {
    if skip_gpu("rrelu_training_gpu_equals_cpu_bitwise") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let n = 4 * 5 * 6;
    let x: Vec<f32> = (0..n).map(|i| (i as f32 - 60.5) * 0.37).collect();
    let input = dir.path().join("x.npy");
    write_npy(&input, &[4, 5, 6], &x);
    let mut outs = Vec::new();
    for device in ["gpu", "cpu"] {
        let out = dir.path().join(format!("y_{device}.npy"));
        let o = run(apply_args(
            "rrelu",
            &input,
            &out,
            &["--training", "--seed", "7", "--device", device],
        ));
        assert_ok(&o, device);
        let (shape, y) = read_npy(&out);
        assert_eq!(shape, [4, 5, 6]);
        outs.push(y);
    }
    let (g, c) = (&outs[0], &outs[1]);
    let differ = g
        .iter()
        .zip(c)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert_eq!(
        differ, 0,
        "rrelu training: GPU and CPU differ in {differ} of {n} values"
    );
    // Training slopes lie in [lower, upper] and are not all the evaluation slope.
    let act = Activation::by_name("rrelu").expect("rrelu").training(7);
    let (lower, upper) = (act.params()[0], act.params()[1]);
    let mut distinct = std::collections::BTreeSet::new();
    for (i, (&xv, &yv)) in x.iter().zip(g).enumerate() {
        if xv < 0.0 {
            let a = act.slope_at(i as u64);
            assert!((lower..=upper).contains(&a));
            assert_eq!(yv.to_bits(), (a * xv).to_bits(), "[{i}] y = a·x");
            distinct.insert(a.to_bits());
        } else {
            assert_eq!(yv.to_bits(), xv.to_bits());
        }
    }
    assert!(distinct.len() > 10, "training draws many slopes");
}

#[test]
fn prelu_per_channel_slopes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shape = [2u64, 3, 4];
    let x: Vec<f32> = (0..24).map(|i| (i as f32 - 11.5) * 0.5).collect();
    let dy: Vec<f32> = (0..24).map(|i| 1.0 + i as f32 * 0.125).collect();
    let slopes = [0.1f32, -0.2, 0.3];
    let (xp, dyp, sp) = (
        dir.path().join("x.npy"),
        dir.path().join("dy.npy"),
        dir.path().join("s.npy"),
    );
    write_npy(&xp, &shape, &x);
    write_npy(&dyp, &shape, &dy);
    write_npy(&sp, &[3], &slopes);
    let channel = |i: usize| (i / 4) % 3;
    let devices: &[&str] = if skip_gpu("prelu_per_channel_slopes") {
        &["cpu", "reference"]
    } else {
        &["gpu", "cpu", "reference"]
    };
    for &device in devices {
        let out = dir.path().join(format!("y_{device}.npy"));
        let sp_s = sp.to_string_lossy().into_owned();
        assert_ok(
            &run(apply_args(
                "prelu",
                &xp,
                &out,
                &["--slopes", &sp_s, "--device", device],
            )),
            device,
        );
        let (got_shape, y) = read_npy(&out);
        assert_eq!(got_shape, shape);
        for i in 0..24 {
            let want = if x[i] > 0.0 {
                x[i]
            } else {
                slopes[channel(i)] * x[i]
            };
            assert_eq!(y[i].to_bits(), want.to_bits(), "{device} forward [{i}]");
        }
        let dyp_s = dyp.to_string_lossy().into_owned();
        let o = run(apply_args(
            "prelu",
            &xp,
            &out,
            &[
                "--slopes",
                &sp_s,
                "--backward",
                "--grad",
                &dyp_s,
                "--device",
                device,
            ],
        ));
        assert_ok(&o, device);
        let (got_shape, dx) = read_npy(&out);
        assert_eq!(got_shape, shape);
        for i in 0..24 {
            let want = if x[i] > 0.0 {
                dy[i]
            } else {
                slopes[channel(i)] * dy[i]
            };
            assert_eq!(dx[i].to_bits(), want.to_bits(), "{device} backward [{i}]");
        }
        // The slope gradient: per channel, the sum of x·dy where x ≤ 0 (exact here: the
        // products and their sums are small multiples of 1/64).
        let da = dir.path().join(format!("da_{device}.npy"));
        let da_s = da.to_string_lossy().into_owned();
        assert_ok(
            &run(apply_args(
                "prelu",
                &xp,
                &out,
                &[
                    "--slopes",
                    &sp_s,
                    "--backward",
                    "--grad",
                    &dyp_s,
                    "--slope-grad",
                    &da_s,
                    "--device",
                    device,
                ],
            )),
            device,
        );
        let (da_shape, got) = read_npy(&da);
        assert_eq!(da_shape, [3]);
        let mut want = [0f32; 3];
        for i in 0..24 {
            if x[i] <= 0.0 {
                want[channel(i)] += x[i] * dy[i];
            }
        }
        assert_eq!(got, want, "{device} slope gradient");
    }
    // --slope-grad belongs to prelu alone.
    let o = run(apply_args(
        "relu",
        &xp,
        &dir.path().join("r.npy"),
        &[
            "--backward",
            "--grad",
            &dyp.to_string_lossy(),
            "--slope-grad",
            &dir.path().join("da.npy").to_string_lossy(),
        ],
    ));
    assert_eq!(o.status.code(), Some(2));
    // One custom slope for every element.
    let out = dir.path().join("y_one.npy");
    assert_ok(
        &run(apply_args(
            "prelu",
            &xp,
            &out,
            &["--slope", "-0.5", "--device", "cpu"],
        )),
        "--slope",
    );
    let (_, y) = read_npy(&out);
    for i in 0..24 {
        let want = if x[i] > 0.0 { x[i] } else { -0.5 * x[i] };
        assert_eq!(y[i].to_bits(), want.to_bits(), "--slope [{i}]");
    }
}

#[test]
fn empty_array_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let devices: &[&str] = if skip_gpu("empty_array_round_trip") {
        &["cpu", "reference"]
    } else {
        &["gpu", "cpu", "reference"]
    };
    for shape in [vec![0u64], vec![2, 0, 3]] {
        let input = dir.path().join("x.npy");
        write_npy::<f32>(&input, &shape, &[]);
        for &device in devices {
            let out = dir.path().join(format!("y_{device}.npy"));
            assert_ok(
                &run(apply_args("gelu", &input, &out, &["--device", device])),
                device,
            );
            let (got_shape, y) = read_npy(&out);
            assert_eq!(got_shape, shape, "{device}: shape");
            assert!(y.is_empty(), "{device}: no values");
        }
    }
}

#[test]
fn zero_d_array_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let devices: &[&str] = if skip_gpu("zero_d_array_round_trip") {
        &["cpu", "reference"]
    } else {
        &["gpu", "cpu", "reference"]
    };
    let input = dir.path().join("x.npy");
    write_npy(&input, &[], &[-2.5f32]);
    for &device in devices {
        let out = dir.path().join(format!("y_{device}.npy"));
        let o = run(apply_args(
            "leaky_relu",
            &input,
            &out,
            &["--param", "negative_slope=0.25", "--device", device],
        ));
        assert_ok(&o, device);
        let (shape, y) = read_npy(&out);
        assert!(shape.is_empty(), "{device}: 0-d output, got {shape:?}");
        assert_eq!(y, [-0.625], "{device}");
    }
}

#[test]
fn success_replaces_existing_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = small_input(dir.path());
    let out = dir.path().join("y.npy");
    std::fs::write(&out, b"old contents").expect("write");
    assert_ok(
        &run(apply_args("relu", &input, &out, &["--device", "cpu"])),
        "relu",
    );
    let (shape, y) = read_npy(&out);
    assert_eq!(shape, [2, 3]);
    assert_eq!(y, [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]);
    let mut want = vec![input, out];
    want.sort();
    assert_eq!(
        listing(dir.path()),
        want,
        "no temporary file is left behind"
    );
}

// ---------------------------------------------------------------------------------------------
// apply: errors
// ---------------------------------------------------------------------------------------------

#[test]
fn error_missing_input_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.npy");
    let err = expect_error(dir.path(), 2, |out| apply_args("relu", &missing, out, &[]));
    assert!(err.contains("missing.npy"), "names the file: {err}");
}

#[test]
fn error_wrong_dtype_f64() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("x64.npy");
    write_npy(&input, &[2, 2], &[1.0f64, -1.0, 2.0, -2.0]);
    let err = expect_error(dir.path(), 2, |out| apply_args("relu", &input, out, &[]));
    assert!(err.contains("<f8"), "names the dtype: {err}");
}

#[test]
fn error_wrong_dtype_int() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("xi.npy");
    write_npy(&input, &[3], &[1i32, -1, 2]);
    expect_error(dir.path(), 2, |out| apply_args("relu", &input, out, &[]));
}

#[test]
fn error_fortran_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("xf.npy");
    write_npy_order(
        &input,
        &[2, 3],
        &[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0],
        npyz::Order::Fortran,
    );
    let err = expect_error(dir.path(), 2, |out| apply_args("relu", &input, out, &[]));
    assert!(err.contains("Fortran"), "{err}");
}

#[test]
fn error_truncated_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = small_input(dir.path());
    let bytes = std::fs::read(&good).expect("read");
    let input = dir.path().join("cut.npy");
    std::fs::write(&input, &bytes[..bytes.len() - 3]).expect("write");
    expect_error(dir.path(), 2, |out| apply_args("relu", &input, out, &[]));
    // A header whose shape overflows u64 when multiplied out.
    let text = "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }";
    let mut header = format!("{text}{}\n", " ".repeat(117 - text.len())).into_bytes();
    let mut hostile = b"\x93NUMPY\x01\x00".to_vec();
    hostile.extend((header.len() as u16).to_le_bytes());
    hostile.append(&mut header);
    let huge = dir.path().join("huge.npy");
    std::fs::write(&huge, &hostile).expect("write");
    expect_error(dir.path(), 2, |out| apply_args("relu", &huge, out, &[]));
    let junk = dir.path().join("junk.npy");
    std::fs::write(&junk, b"not a numpy file at all").expect("write");
    expect_error(dir.path(), 2, |out| apply_args("relu", &junk, out, &[]));
}

#[test]
fn error_grad_shape_mismatch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = small_input(dir.path());
    let grad = dir.path().join("dy.npy");
    write_npy(&grad, &[3, 2], &[1.0f32; 6]);
    let g = grad.to_string_lossy().into_owned();
    let err = expect_error(dir.path(), 2, |out| {
        apply_args("relu", &input, out, &["--backward", "--grad", &g])
    });
    assert!(
        err.contains("[3, 2]") && err.contains("[2, 3]"),
        "shows both shapes: {err}"
    );
    // For ops that save their output the message says the input is y.
    let err = expect_error(dir.path(), 2, |out| {
        apply_args("sigmoid", &input, out, &["--backward", "--grad", &g])
    });
    assert!(
        err.contains("output y"),
        "says the saved tensor is y: {err}"
    );
}

#[test]
fn error_unknown_op() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = small_input(dir.path());
    let err = expect_error(dir.path(), 2, |out| apply_args("relu7", &input, out, &[]));
    assert!(err.contains("relu7"), "{err}");
}

#[test]
fn error_unknown_param() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = small_input(dir.path());
    let err = expect_error(dir.path(), 2, |out| {
        apply_args("elu", &input, out, &["--param", "beta=2"])
    });
    assert!(
        err.contains("beta") && err.contains("alpha"),
        "names the bad and the known parameters: {err}"
    );
    expect_error(dir.path(), 2, |out| {
        apply_args("elu", &input, out, &["--param", "alpha"])
    });
    expect_error(dir.path(), 2, |out| {
        apply_args("elu", &input, out, &["--param", "alpha=one"])
    });
}

#[test]
fn error_nan_param() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = small_input(dir.path());
    let err = expect_error(dir.path(), 2, |out| {
        apply_args(
            "leaky_relu",
            &input,
            out,
            &["--param", "negative_slope=nan"],
        )
    });
    assert!(err.contains("negative_slope"), "{err}");
}

#[test]
fn error_training_on_relu() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = small_input(dir.path());
    let err = expect_error(dir.path(), 2, |out| {
        apply_args("relu", &input, out, &["--training", "--seed", "1"])
    });
    assert!(err.contains("rrelu"), "{err}");
    // --training needs --seed.
    expect_error(dir.path(), 2, |out| {
        apply_args("rrelu", &input, out, &["--training"])
    });
}

#[test]
fn error_prelu_slopes_do_not_fit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = small_input(dir.path()); // [2, 3]
    let four = dir.path().join("s4.npy");
    write_npy(&four, &[4], &[0.1f32, 0.2, 0.3, 0.4]);
    let s4 = four.to_string_lossy().into_owned();
    let err = expect_error(dir.path(), 2, |out| {
        apply_args("prelu", &input, out, &["--slopes", &s4])
    });
    assert!(err.contains('4') && err.contains('3'), "{err}");
    let one_d = dir.path().join("x1.npy");
    write_npy(&one_d, &[4], &[1.0f32; 4]);
    expect_error(dir.path(), 2, |out| {
        apply_args("prelu", &one_d, out, &["--slopes", &s4])
    });
    expect_error(dir.path(), 2, |out| {
        apply_args("relu", &input, out, &["--slopes", &s4])
    });
}

#[test]
fn error_bad_usage_is_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = small_input(dir.path());
    expect_error(dir.path(), 2, |out| {
        apply_args("relu", &input, out, &["--bogus"])
    });
    expect_error(dir.path(), 2, |out| {
        apply_args("relu", &input, out, &["--derivative", "--backward"])
    });
    expect_error(dir.path(), 2, |out| {
        apply_args("relu", &input, out, &["--device", "tpu"])
    });
}

#[test]
fn error_runtime_no_adapter_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = small_input(dir.path());
    let out = dir.path().join("y.npy");
    let o = run_env(
        apply_args("relu", &input, &out, &[]),
        &[("WGPU_ADAPTER_NAME", "no-such-adapter-xyz")],
    );
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "runtime errors exit 1; stderr:\n{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "one error line:\n{err}"
    );
    assert!(!out.exists(), "no output on a runtime error");
}

#[test]
fn accuracy_table_on_cpu() {
    let o = run(["accuracy", "--cpu-only", "--random", "64"]);
    assert_ok(&o, "accuracy");
    let text = String::from_utf8_lossy(&o.stdout);
    for op in wgpu_activations::OpKind::ALL {
        assert!(
            text.contains(&format!("| `{}` |", op.name())),
            "no row for {}",
            op.name()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// bench
// ---------------------------------------------------------------------------------------------

#[test]
fn bench_writes_table_json_and_svg() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("bench.json");
    let svg = dir.path().join("bench.svg");
    let gpu = !skip_gpu("bench_writes_table_json_and_svg");
    let mut args: Vec<OsString> = [
        "bench",
        "--ops",
        "relu",
        "--sizes",
        "1024",
        "--trials",
        "2",
        "--min-trial-ms",
        "1",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.extend([
        "--json".into(),
        json.clone().into(),
        "--plot".into(),
        svg.clone().into(),
    ]);
    if !gpu {
        args.push("--cpu-only".into());
    }
    let o = run(&args);
    assert_ok(&o, "bench");
    let text = stdout(&o);
    assert!(text.contains("| relu"), "a table row for relu:\n{text}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON file"))
            .expect("valid JSON");
    for key in ["adapter", "host", "points", "kernel_timing"] {
        assert!(report.get(key).is_some(), "JSON has `{key}`");
    }
    for key in ["cpu_model", "threads"] {
        assert!(report["host"].get(key).is_some(), "host has `{key}`");
    }
    let points = report["points"].as_array().expect("points is an array");
    assert_eq!(points.len(), 2, "relu forward and backward at one size");
    let modes: Vec<&str> = points.iter().filter_map(|p| p["mode"].as_str()).collect();
    assert_eq!(modes, ["forward", "backward"]);
    for p in points {
        for key in [
            "op",
            "mode",
            "dtype",
            "shape",
            "elements",
            "gpu_kernel_gbps",
            "gpu_e2e_gbps",
            "cpu_gbps",
            "device_copy_gbps",
            "host_memcpy_gbps",
            "gpu_fraction_of_copy",
            "cpu_fraction_of_memcpy",
        ] {
            assert!(p.get(key).is_some(), "point has `{key}`: {p}");
        }
        assert_eq!(p["op"], "relu");
        assert_eq!(p["dtype"], "f32");
        assert_eq!(p["elements"], 1024);
        let positive = |k: &str| p[k].as_f64().is_some_and(|v| v > 0.0 && v.is_finite());
        for k in ["cpu_gbps", "host_memcpy_gbps", "cpu_fraction_of_memcpy"] {
            assert!(positive(k), "`{k}` is a positive number: {p}");
        }
        if gpu {
            for k in [
                "gpu_kernel_gbps",
                "gpu_e2e_gbps",
                "device_copy_gbps",
                "gpu_fraction_of_copy",
            ] {
                assert!(positive(k), "`{k}` is a positive number: {p}");
            }
        }
    }
    if gpu {
        for key in ["name", "backend", "device_type", "driver"] {
            assert!(report["adapter"].get(key).is_some(), "adapter has `{key}`");
        }
        let timing = report["kernel_timing"].as_str().expect("kernel_timing");
        assert!(
            timing == "timestamps" || timing == "host",
            "kernel_timing: {timing}"
        );
    }

    let picture = std::fs::read_to_string(&svg).expect("the SVG file");
    assert!(
        picture.starts_with("<svg") || picture.starts_with("<?xml"),
        "an SVG: {}",
        &picture[..picture.len().min(80)]
    );

    // f16 and bf16 beside f32: a dtype column, and points that count 2 bytes per element.
    let mut args: Vec<OsString> = [
        "bench",
        "--ops",
        "relu,softmax",
        "--sizes",
        "2048",
        "--modes",
        "forward",
        "--dtypes",
        "f32,f16,bf16",
        "--trials",
        "1",
        "--min-trial-ms",
        "1",
        "--json",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.push(json.clone().into());
    if !gpu {
        args.push("--cpu-only".into());
    }
    let o = run(&args);
    assert_ok(&o, "bench --dtypes f32,f16,bf16");
    let text = stdout(&o);
    assert!(text.contains("| dtype"), "a dtype column:\n{text}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON file"))
            .expect("valid JSON");
    let points = report["points"].as_array().expect("points is an array");
    let seen: Vec<(String, String, u64)> = points
        .iter()
        .map(|p| {
            (
                p["op"].as_str().unwrap_or("").to_string(),
                p["dtype"].as_str().unwrap_or("").to_string(),
                p["bytes_moved"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let want: Vec<(String, String, u64)> = [
        ("relu", "f32", 8 * 2048),
        ("relu", "f16", 4 * 2048),
        ("relu", "bf16", 4 * 2048),
        ("softmax", "f32", 8 * 2048),
        ("softmax", "f16", 4 * 2048),
        ("softmax", "bf16", 4 * 2048),
    ]
    .iter()
    .map(|&(o, d, b)| (o.to_string(), d.to_string(), b))
    .collect();
    assert_eq!(seen, want);
    if gpu {
        let offload = report["offload"].as_array().expect("offload is an array");
        assert_eq!(offload.len(), 6, "one offload row per op, mode and dtype");
    }

    // Usage errors are one line and exit 2, before anything is measured.
    let o = run(["bench", "--ops", "nosuchop", "--cpu-only"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "unknown op; stderr:\n{}",
        stderr(&o)
    );
    assert_eq!(
        stderr(&o).lines().count(),
        1,
        "one error line:\n{}",
        stderr(&o)
    );
    let o = run(["bench", "--sizes", "2^40", "--cpu-only"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "size too large; stderr:\n{}",
        stderr(&o)
    );
}

#[test]
fn softmax_command_matches_the_reference() {
    use wgpu_activations::reference::{
        softmax_backward_exact as reference_backward_exact,
        softmax_exact as reference_forward_exact,
    };
    use wgpu_activations::Softmax;
    let dir = tempfile::tempdir().expect("tempdir");
    let shape = [2u64, 3, 5];
    let x: Vec<f32> = (0..30)
        .map(|i| ((i * 7919) % 31) as f32 * 0.37 - 5.0)
        .collect();
    let dy: Vec<f32> = (0..30)
        .map(|i| ((i * 104_729) % 17) as f32 * 0.25 - 2.0)
        .collect();
    let (xp, dyp) = (dir.path().join("x.npy"), dir.path().join("dy.npy"));
    write_npy(&xp, &shape, &x);
    write_npy(&dyp, &shape, &dy);
    let devices: &[&str] = if skip_gpu("softmax_command") {
        &["cpu", "reference"]
    } else {
        &["gpu", "cpu", "reference"]
    };
    let dims = [2usize, 3, 5];
    for (flag, sm) in [
        ("", Softmax::softmax()),
        ("--log", Softmax::log_softmax()),
        ("--softmin", Softmax::softmin()),
    ] {
        for axis in [1usize, 2] {
            let want = reference_forward_exact(&sm, &x, &dims, axis).unwrap();
            for &device in devices {
                let out = dir.path().join(format!("y_{device}.npy"));
                let mut args: Vec<String> = [
                    "softmax",
                    "--input",
                    &xp.to_string_lossy(),
                    "--output",
                    &out.to_string_lossy(),
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                args.extend([
                    "--axis".to_string(),
                    axis.to_string(),
                    "--device".to_string(),
                    device.to_string(),
                ]);
                if !flag.is_empty() {
                    args.push(flag.to_string());
                }
                assert_ok(
                    &run(&args),
                    &format!("softmax {flag} axis {axis} on {device}"),
                );
                let (got_shape, y) = read_npy(&out);
                assert_eq!(got_shape, shape);
                for i in 0..30 {
                    let err = wgpu_activations::ulp::ulp_error(y[i], want[i]);
                    assert!(
                        err <= 4.0,
                        "softmax {flag} axis {axis} {device} [{i}]: {err} ULP"
                    );
                }
                // Backward from the saved output.
                let dx_path = dir.path().join(format!("dx_{device}.npy"));
                let mut bargs = vec![
                    "softmax".to_string(),
                    "--backward".into(),
                    "--saved-output".into(),
                    out.to_string_lossy().into_owned(),
                ];
                bargs.extend([
                    "--grad".into(),
                    dyp.to_string_lossy().into_owned(),
                    "--output".into(),
                    dx_path.to_string_lossy().into_owned(),
                ]);
                bargs.extend([
                    "--axis".to_string(),
                    axis.to_string(),
                    "--device".to_string(),
                    device.to_string(),
                ]);
                if !flag.is_empty() {
                    bargs.push(flag.to_string());
                }
                assert_ok(
                    &run(&bargs),
                    &format!("softmax backward {flag} axis {axis} on {device}"),
                );
                let (_, dx) = read_npy(&dx_path);
                let want_dx = reference_backward_exact(&sm, &y, &dy, &dims, axis).unwrap();
                for i in 0..30 {
                    let tol = 8.0 * f32::EPSILON as f64 * (1.0 + want_dx[i].abs());
                    assert!(
                        (dx[i] as f64 - want_dx[i]).abs() <= tol,
                        "backward {flag} axis {axis} {device} [{i}]: {} vs {}",
                        dx[i],
                        want_dx[i]
                    );
                }
            }
        }
    }
    // Errors: one line, exit 2, no output.
    let out = dir.path().join("bad.npy");
    for extra in [
        vec!["--axis", "3"],
        vec!["--temperature", "0"],
        vec!["--log", "--softmin"],
    ] {
        let mut args = vec![
            "softmax".to_string(),
            "--input".into(),
            xp.to_string_lossy().into_owned(),
            "--output".into(),
            out.to_string_lossy().into_owned(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let o = run(&args);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{extra:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&o.stderr).lines().count(),
            1,
            "{extra:?}"
        );
        assert!(!out.exists(), "{extra:?} left an output");
    }
    let small = dir.path().join("small.npy");
    write_npy(&small, &[2, 3], &[0f32; 6]);
    let o = run([
        "softmax",
        "--backward",
        "--saved-output",
        &xp.to_string_lossy(),
        "--grad",
        &small.to_string_lossy(),
        "--output",
        &out.to_string_lossy(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
}

// ---------------------------------------------------------------------------------------------
// float16 files
// ---------------------------------------------------------------------------------------------

/// Read a float16 C-order .npy: (shape, data).
fn read_npy_f16(path: &Path) -> (Vec<u64>, Vec<wgpu_activations::half::f16>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let f = npyz::NpyFile::new(&bytes[..]).expect("valid .npy");
    assert_eq!(f.dtype().descr(), "'<f2'", "output dtype");
    let shape = f.shape().to_vec();
    (shape, f.into_vec().expect("f16 data"))
}

/// `apply` reads 16-bit files (`H`: f16 or bf16, written by `write` and read back by `read`) and
/// writes results of the same type within 1 ULP of it of the exact values (forward, derivative,
/// backward; GPU and CPU).
fn apply_half_files<H>(
    test: &str,
    write: fn(&Path, &[u64], &[H]),
    read: fn(&Path) -> (Vec<u64>, Vec<H>),
) where
    H: wgpu_activations::Element + std::fmt::Display,
{
    use wgpu_activations::harness::{gradients_of, inputs_of, judge_of, saved_tensor_of};
    use wgpu_activations::Mode;
    let dir = tempfile::tempdir().expect("tempdir");
    let devices: &[&str] = if skip_gpu(test) {
        &["cpu"]
    } else {
        &["gpu", "cpu"]
    };
    for op in [OpKind::Gelu, OpKind::Sigmoid, OpKind::LeakyRelu] {
        let act = Activation::new(op);
        let x: Vec<H> = inputs_of(&act, 2000);
        let n = x.len() as u64;
        let s = saved_tensor_of(&act, &x);
        let dy: Vec<H> = gradients_of(x.len());
        let (xp, sp, dyp) = (
            dir.path().join("x.npy"),
            dir.path().join("s.npy"),
            dir.path().join("dy.npy"),
        );
        write(&xp, &[n], &x);
        write(&sp, &[n], &s);
        write(&dyp, &[n], &dy);
        let dy_arg = dyp.to_string_lossy().into_owned();
        for device in devices {
            for (mode, input, extra) in [
                (Mode::Forward, &xp, vec!["--device", device]),
                (
                    Mode::Derivative,
                    &xp,
                    vec!["--device", device, "--derivative"],
                ),
                (
                    Mode::Backward,
                    &sp,
                    vec!["--device", device, "--backward", "--grad", &dy_arg],
                ),
            ] {
                let out = dir.path().join("y.npy");
                let o = run(apply_args(op.name(), input, &out, &extra));
                assert_ok(&o, &format!("{} {} {device}", op.name(), mode.name()));
                let (shape, got) = read(&out);
                assert_eq!(shape, vec![n]);
                let xs = if mode == Mode::Backward { &s } else { &x };
                for i in 0..x.len() {
                    let d = (mode == Mode::Backward).then(|| dy[i]);
                    let v = judge_of(&act, mode, i, xs[i], d, got[i]);
                    assert!(
                        v.ok,
                        "{} {} {device} [{i}] x = {} got {} want {}: {:.2} ULP",
                        op.name(),
                        mode.name(),
                        xs[i],
                        got[i],
                        v.exact,
                        v.ulps
                    );
                }
            }
        }
    }
}

/// `apply` reads float16 files and writes float16 results within 1 ULP of f16 of the exact
/// values (forward, derivative, backward; GPU and CPU).
#[test]
fn apply_f16_files() {
    apply_half_files("apply_f16_files", write_npy, read_npy_f16);
}

/// `softmax` reads float16 and writes float16 within 1 ULP of f16, forward and backward, along
/// the last axis and another.
#[test]
fn softmax_f16_files() {
    use wgpu_activations::half::f16;
    use wgpu_activations::Softmax;
    let dir = tempfile::tempdir().expect("tempdir");
    let devices: &[&str] = if skip_gpu("softmax_f16_files") {
        &["cpu"]
    } else {
        &["gpu", "cpu"]
    };
    let shape = [6usize, 50, 4];
    let n: usize = shape.iter().product();
    let x: Vec<f16> = inputs(n)
        .iter()
        .map(|v| f16::from_f32(v.clamp(-20.0, 20.0)))
        .collect();
    let xf: Vec<f32> = x.iter().map(|v| v.to_f32()).collect();
    let dy: Vec<f16> = grads(n).iter().map(|&v| f16::from_f32(v)).collect();
    let dyf: Vec<f32> = dy.iter().map(|v| v.to_f32()).collect();
    let (xp, yp, dyp) = (
        dir.path().join("x.npy"),
        dir.path().join("ys.npy"),
        dir.path().join("dy.npy"),
    );
    let shape64: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    write_npy(&xp, &shape64, &x);
    write_npy(&dyp, &shape64, &dy);
    for axis in [2usize, 1] {
        let sm = Softmax::softmax();
        let exact = wgpu_activations::reference::softmax_exact(&sm, &xf, &shape, axis).unwrap();
        let ys: Vec<f16> = exact.iter().map(|&v| f16::from_f64(v)).collect();
        let ysf: Vec<f32> = ys.iter().map(|v| v.to_f32()).collect();
        write_npy(&yp, &shape64, &ys);
        let exact_dx =
            wgpu_activations::reference::softmax_backward_exact(&sm, &ysf, &dyf, &shape, axis)
                .unwrap();
        for device in devices {
            let out = dir.path().join("out.npy");
            let axis_s = axis.to_string();
            let o = run([
                "softmax",
                "-i",
                &xp.to_string_lossy(),
                "-o",
                &out.to_string_lossy(),
                "--axis",
                &axis_s,
                "--device",
                device,
            ]);
            assert_ok(&o, &format!("softmax f16 axis {axis} {device}"));
            let (_, got) = read_npy_f16(&out);
            for i in 0..n {
                let e = wgpu_activations::ulp::ulp_error_f16(got[i], exact[i]);
                assert!(
                    e <= 1.0,
                    "{device} axis {axis} forward [{i}]: {e:.2} ULP of f16"
                );
            }
            let o = run([
                "softmax",
                "--backward",
                "--saved-output",
                &yp.to_string_lossy(),
                "--grad",
                &dyp.to_string_lossy(),
                "-o",
                &out.to_string_lossy(),
                "--axis",
                &axis_s,
                "--device",
                device,
            ]);
            assert_ok(&o, &format!("softmax f16 backward axis {axis} {device}"));
            let (_, got) = read_npy_f16(&out);
            for i in 0..n {
                let e = wgpu_activations::ulp::ulp_error_f16(got[i], exact_dx[i]);
                assert!(
                    e <= 1.0,
                    "{device} axis {axis} backward [{i}]: {e:.2} ULP of f16"
                );
            }
        }
    }
}

#[test]
fn error_f16_input_with_f32_grad() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("x16.npy");
    let x: Vec<wgpu_activations::half::f16> = [1.0f32, -1.0, 2.0]
        .iter()
        .map(|&v| wgpu_activations::half::f16::from_f32(v))
        .collect();
    write_npy(&input, &[3], &x);
    let dy = dir.path().join("dy32.npy");
    write_npy(&dy, &[3], &[1.0f32, 1.0, 1.0]);
    let dy_arg = dy.to_string_lossy().into_owned();
    let err = expect_error(dir.path(), 2, |out| {
        apply_args(
            "relu",
            &input,
            out,
            &["--device", "cpu", "--backward", "--grad", &dy_arg],
        )
    });
    assert!(
        err.contains("float16") && err.contains("float32"),
        "names the dtypes: {err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Outputs: only regular files, written through links, modes kept, checked first, signals
// ---------------------------------------------------------------------------------------------

/// Unix only: FIFOs, sockets, device nodes, permission bits, signals.
#[cfg(unix)]
mod outputs {
    use super::*;
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};

    fn c_path(p: &Path) -> std::ffi::CString {
        use std::os::unix::ffi::OsStrExt as _;
        std::ffi::CString::new(p.as_os_str().as_bytes()).expect("no NUL")
    }

    /// What is at `p`, in words (after no links).
    fn kind(p: &Path) -> &'static str {
        let ft = std::fs::symlink_metadata(p).expect("metadata").file_type();
        if ft.is_fifo() {
            "fifo"
        } else if ft.is_socket() {
            "socket"
        } else if ft.is_char_device() {
            "char device"
        } else if ft.is_dir() {
            "directory"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_file() {
            "file"
        } else {
            "other"
        }
    }

    /// A FIFO, a socket, a directory and (as root) a character device node like /dev/null's, each
    /// given as --output to apply and softmax: refused with exit code 2 and one error line naming
    /// what it is, left as it was, and nothing else created beside it. (The tool once replaced each
    /// with a regular file, /dev/null included, and exited 0.)
    #[test]
    fn output_that_is_not_a_regular_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = small_input(dir.path());
        let fifo = dir.path().join("fifo");
        assert_eq!(
            unsafe { libc::mkfifo(c_path(&fifo).as_ptr(), 0o644) },
            0,
            "mkfifo"
        );
        let socket = dir.path().join("socket");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind a socket");
        let folder = dir.path().join("folder");
        std::fs::create_dir(&folder).expect("mkdir");
        let mut targets = vec![
            (fifo, "a FIFO"),
            (socket, "a socket"),
            (folder, "a directory"),
        ];
        // A device node needs root (mknod); /dev/null itself is never used, so that a regression
        // cannot replace it.
        let null = dir.path().join("null");
        let dev = libc::makedev(1, 3);
        if unsafe { libc::mknod(c_path(&null).as_ptr(), libc::S_IFCHR | 0o666, dev) } == 0 {
            targets.push((null, "a character device"));
        } else {
            eprintln!("not root: no device node to test (mknod failed)");
        }
        let before = listing(dir.path());
        for (target, what) in &targets {
            let was = kind(target);
            let cases: Vec<Vec<OsString>> = vec![
                apply_args("relu", &input, target, &["--device", "cpu"]),
                vec![
                    "softmax".into(),
                    "-i".into(),
                    input.clone().into(),
                    "-o".into(),
                    target.into(),
                    "--device".into(),
                    "cpu".into(),
                ],
            ];
            for args in cases {
                let o = run(&args);
                let err = stderr(&o);
                assert_eq!(
                    o.status.code(),
                    Some(2),
                    "{what}: exit code; stderr:\n{err}"
                );
                assert_eq!(err.lines().count(), 1, "{what}: one line:\n{err}");
                assert!(
                    err.starts_with("error: ") && err.contains(what),
                    "{what}: {err}"
                );
                assert_eq!(kind(target), was, "{what} is left as it was");
                assert_eq!(listing(dir.path()), before, "{what}: nothing created");
            }
        }
    }

    /// An output that is a symbolic link is written through: the link stays a link and its target
    /// gets the result, keeping its permission bits; a dangling link creates its target.
    #[test]
    fn output_through_a_symlink_keeps_the_link_and_the_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = small_input(dir.path());
        let target = dir.path().join("target.npy");
        std::fs::write(&target, b"old").expect("write");
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let link = dir.path().join("link.npy");
        std::os::unix::fs::symlink("target.npy", &link).expect("symlink");
        assert_ok(
            &run(apply_args("relu", &input, &link, &["--device", "cpu"])),
            "relu",
        );
        assert_eq!(kind(&link), "symlink", "the link stays a link");
        assert_eq!(read_npy(&target).1, [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]);
        let mode = std::fs::metadata(&target)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o640, "the target keeps its mode, got {mode:o}");

        let dangling = dir.path().join("dangling.npy");
        std::os::unix::fs::symlink("created.npy", &dangling).expect("symlink");
        assert_ok(
            &run(apply_args("relu", &input, &dangling, &["--device", "cpu"])),
            "relu",
        );
        assert_eq!(kind(&dangling), "symlink");
        assert_eq!(read_npy(&dir.path().join("created.npy")).1.len(), 6);
        let mut want = vec![
            input,
            target,
            link,
            dangling,
            dir.path().join("created.npy"),
        ];
        want.sort();
        assert_eq!(
            listing(dir.path()),
            want,
            "no temporary file is left behind"
        );
    }

    /// A read-only output file (no write bit; root would otherwise replace it) is refused before any
    /// input is read, and left as it was.
    #[test]
    fn read_only_output_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = small_input(dir.path());
        let out = dir.path().join("ro.npy");
        std::fs::write(&out, b"keep me").expect("write");
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o444)).expect("chmod");
        let o = run(apply_args("relu", &input, &out, &["--device", "cpu"]));
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "stderr:\n{err}");
        assert!(err.contains("read-only"), "{err}");
        assert_eq!(std::fs::read(&out).expect("read"), b"keep me");
    }

    /// `-o -` writes the .npy to standard output (the same bytes as a file) and creates no file.
    #[test]
    fn output_dash_is_standard_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = small_input(dir.path());
        let file = dir.path().join("y.npy");
        assert_ok(
            &run(apply_args("gelu", &input, &file, &["--device", "cpu"])),
            "file",
        );
        // Run in the folder, so that a file named `-` would land there.
        let o = Command::new(BIN)
            .current_dir(dir.path())
            .args(apply_args(
                "gelu",
                &input,
                Path::new("-"),
                &["--device", "cpu"],
            ))
            .output()
            .expect("runs");
        assert_ok(&o, "stdout");
        assert_eq!(
            o.stdout,
            std::fs::read(&file).expect("read"),
            "the same bytes"
        );
        assert!(!dir.path().join("-").exists(), "no file named -");
        let o = run([
            "softmax".into(),
            "-i".into(),
            OsString::from(&input),
            "-o".into(),
            "-".into(),
            "--device".into(),
            "cpu".into(),
        ]);
        assert_ok(&o, "softmax to stdout");
        assert!(o.stdout.starts_with(b"\x93NUMPY"), "an .npy on stdout");
    }

    /// The whole output path is checked before any input is read or anything computed: a name too
    /// long for the file system fails first (the input here does not even exist), while a long name
    /// that fits works (the temporary file's name no longer grows with it).
    #[test]
    fn output_path_is_checked_before_computing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing.npy");
        let too_long = dir.path().join("y".repeat(256));
        let o = run(apply_args(
            "relu",
            &missing,
            &too_long,
            &["--device", "cpu"],
        ));
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "stderr:\n{err}");
        assert!(
            err.contains("--output") && !err.contains("missing.npy"),
            "the output fails first: {err}"
        );

        let input = small_input(dir.path());
        let long = dir.path().join(format!("{}.npy", "y".repeat(251)));
        assert_ok(
            &run(apply_args("relu", &input, &long, &["--device", "cpu"])),
            "255-byte name",
        );
        assert_eq!(read_npy(&long).1.len(), 6);
        let mut want = vec![input, long];
        want.sort();
        assert_eq!(
            listing(dir.path()),
            want,
            "no temporary file is left behind"
        );
    }

    /// `--slope-grad` and `--output` naming one file (directly, by another spelling, or through a
    /// link) is refused, instead of one result silently overwriting the other.
    #[test]
    fn slope_grad_and_output_must_differ() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = small_input(dir.path());
        let out = dir.path().join("y.npy");
        let link = dir.path().join("l.npy");
        std::fs::write(&out, b"old").expect("write");
        std::os::unix::fs::symlink("y.npy", &link).expect("symlink");
        let input_arg = input.to_string_lossy().into_owned();
        let spellings = [
            out.clone(),
            dir.path().join(".").join("y.npy"),
            link.clone(),
        ];
        for other in &spellings {
            let other = other.to_string_lossy().into_owned();
            let o = run(apply_args(
                "prelu",
                &input,
                &out,
                &[
                    "--device",
                    "cpu",
                    "--backward",
                    "--grad",
                    &input_arg,
                    "--slope-grad",
                    &other,
                ],
            ));
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{other}: stderr:\n{err}");
            assert!(err.contains("same file"), "{err}");
            assert_eq!(std::fs::read(&out).expect("read"), b"old");
        }
    }

    /// The tool's descendants' open files that point into `dir` (an unnamed O_TMPFILE shows as
    /// `dir/#NNN (deleted)`).
    fn open_files_in(pid: u32, dir: &Path) -> Vec<String> {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            return Vec::new();
        };
        let dir = dir.to_string_lossy().into_owned();
        fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .filter(|p| p.starts_with(&dir))
            .collect()
    }

    /// SIGTERM or SIGINT while the tool works leaves no temporary file (named, or unnamed O_TMPFILE)
    /// and the previous output intact; the tool dies of the signal. The signal is sent once the
    /// temporary file exists (named: it is in the folder; unnamed: the tool holds it open).
    #[test]
    fn signal_leaves_no_temporary_file_and_the_old_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        // 16 Mi float16 values (32 MiB): the exact reference takes about a second on them.
        let input = dir.path().join("big.npy");
        let x: Vec<wgpu_activations::half::f16> = (0..1u32 << 24)
            .map(|i| wgpu_activations::half::f16::from_f32((i % 4001) as f32 * 0.005 - 10.0))
            .collect();
        write_npy(&input, &[1 << 24], &x);
        let out = dir.path().join("y.npy");
        for named in [true, false] {
            for sig in [libc::SIGTERM, libc::SIGINT] {
                std::fs::write(&out, b"previous output").expect("write");
                let before = listing(dir.path());
                let mut cmd = Command::new(BIN);
                cmd.args(apply_args(
                    "gelu_tanh",
                    &input,
                    &out,
                    &["--device", "reference", "--derivative"],
                ));
                if named {
                    cmd.env("WGPU_ACTIVATIONS_NAMED_TEMP", "1");
                }
                let mut child = cmd.spawn().expect("spawn");
                let pid = child.id();
                let started = std::time::Instant::now();
                let holds_temp = loop {
                    let extra = listing(dir.path()).len() > before.len();
                    let held = open_files_in(pid, dir.path())
                        .iter()
                        .any(|p| !p.ends_with("big.npy") && !p.ends_with("y.npy"));
                    if extra || held {
                        break true;
                    }
                    if child.try_wait().expect("try_wait").is_some()
                        || started.elapsed() > std::time::Duration::from_secs(60)
                    {
                        break false;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                };
                assert!(
                    holds_temp,
                    "named={named}: the temporary file never appeared before the tool ended"
                );
                assert_eq!(unsafe { libc::kill(pid as libc::pid_t, sig) }, 0, "kill");
                let status = child.wait().expect("wait");
                use std::os::unix::process::ExitStatusExt as _;
                assert_eq!(
                    status.signal(),
                    Some(sig),
                    "named={named}: the tool dies of signal {sig}: {status:?}"
                );
                assert_eq!(
                    listing(dir.path()),
                    before,
                    "named={named}, signal {sig}: a temporary file was left behind"
                );
                assert_eq!(
                    std::fs::read(&out).expect("read"),
                    b"previous output",
                    "the old output is intact"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Small things: hostile values make one clean error line
// ---------------------------------------------------------------------------------------------

/// `accuracy --random` beyond its limit is a usage error, not a "capacity overflow" panic or an
/// allocation abort.
#[test]
fn accuracy_random_too_large_is_a_usage_error() {
    for n in ["18446744073709551615", "1000000000000"] {
        let o = run(["accuracy", "--cpu-only", "--random", n]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "--random {n}: stderr:\n{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: ") && err.contains("--random"),
            "{err}"
        );
    }
}

/// A bad `WGPU_BACKEND` or `WGPU_POWER_PREF` is named in the error (exit 2), not reported as "no
/// adapters found" or ignored.
#[test]
fn bad_adapter_environment_is_named() {
    for (var, value) in [
        ("WGPU_BACKEND", "bogus"),
        ("WGPU_BACKEND", "vulkan,bogus"),
        ("WGPU_POWER_PREF", "bogus"),
    ] {
        let o = run_env(["info"], &[(var, value)]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{var}={value}: stderr:\n{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(var) && err.contains("bogus"),
            "{var}={value}: {err}"
        );
    }
}

/// A header with terminal escape sequences, one nested 24 levels deep (the .npy parser once took
/// minutes on it: its backtracking is exponential in the depth) or a long one gives one error line
/// within seconds, of bounded length, with every control character escaped.
#[test]
fn hostile_header_gives_a_safe_short_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let npy = |name: &str, text: &str| {
        let mut header = format!("{text}\n").into_bytes();
        let pad = (64 - (12 + header.len()) % 64) % 64;
        header.splice(
            header.len() - 1..header.len() - 1,
            std::iter::repeat_n(b' ', pad),
        );
        let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
        bytes.extend((header.len() as u32).to_le_bytes());
        bytes.extend(header);
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).expect("write");
        p
    };
    // A structured dtype whose field name clears the screen and retitles the terminal: the error
    // quotes the dtype.
    let escapes = npy(
        "esc.npy",
        "{'descr': [('a\x1b[2J\x1b]0;pwned\x07b', '<f4')], 'fortran_order': False, 'shape': (1,), }",
    );
    let nested = |d: usize| {
        format!(
            "{{'descr': {}'<f4'{}, 'fortran_order': False, 'shape': (1,), }}",
            "[".repeat(d),
            "]".repeat(d)
        )
    };
    let deep = npy("deep.npy", &nested(24));
    let long = npy(
        "long.npy",
        &format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'junk': ({}), }}",
            "1, ".repeat(3000)
        ),
    );
    // A file name with an escape sequence, quoted by "cannot read".
    let named = dir.path().join("missing\x1b[31m\r.npy");
    for input in [escapes, deep, long, named] {
        let out = dir.path().join("y.npy");
        let mut child = Command::new(BIN)
            .args(apply_args("relu", &input, &out, &["--device", "cpu"]))
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let started = std::time::Instant::now();
        while child.try_wait().expect("try_wait").is_none() {
            if started.elapsed() > std::time::Duration::from_secs(10) {
                child.kill().expect("kill");
                panic!("{}: still parsing after 10 s", input.display());
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let o = child.wait_with_output().expect("output");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "stderr:\n{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err:?}");
        let line = err.trim_end_matches('\n');
        assert!(
            !line.chars().any(|c| c.is_control()),
            "no raw control characters: {line:?}"
        );
        assert!(
            line.chars().count() <= 700,
            "{} characters: {line}",
            line.chars().count()
        );
    }
}

/// `softmax --backward` takes the saved output and dy; an `-i` given with it is an error rather
/// than silently ignored.
#[test]
fn softmax_backward_rejects_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = small_input(dir.path());
    let err = expect_error(dir.path(), 2, |out| {
        vec![
            "softmax".into(),
            "--backward".into(),
            "-i".into(),
            input.clone().into(),
            "--saved-output".into(),
            input.clone().into(),
            "--grad".into(),
            input.clone().into(),
            "-o".into(),
            out.into(),
            "--device".into(),
            "cpu".into(),
        ]
    });
    assert!(err.contains("--input") || err.contains("-i"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// bfloat16 files, as `np.save` writes an `ml_dtypes.bfloat16` array
// ---------------------------------------------------------------------------------------------

/// The committed fixtures, made by numpy 2.4 and ml_dtypes 0.7:
/// `x = np.array(VALUES, np.float32).astype(ml_dtypes.bfloat16).reshape(2, 3, 5)`,
/// `np.save('bf16_x.npy', x)` and `np.save('bf16_relu.npy', np.maximum(x, ml_dtypes.bfloat16(0)))`.
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The f32 values the fixture `bf16_x.npy` was made from (rounded to bf16 by ml_dtypes).
const FIXTURE_VALUES: [f32; 30] = [
    0.0,
    1.0,
    -2.5,
    3.140625,
    1e-40,
    -1e-40,
    f32::INFINITY,
    f32::NEG_INFINITY,
    3.0e38,
    -3.0e38,
    0.1,
    -0.1,
    7.5,
    -7.5,
    100.0,
    -100.0,
    1.175_494_4e-38,
    9.183_55e-41,
    0.5,
    -0.75,
    1.0078125,
    255.0,
    -65504.0,
    1e-5,
    -1e-5,
    42.0,
    -42.0,
    9.183_55e-41,
    0.332_031_25,
    -3.0,
];

/// Write a bfloat16 .npy the way `np.save` writes an `ml_dtypes.bfloat16` array: version 1.0,
/// descr `'<V2'`, the header padded with spaces to 64 bytes, the bits little-endian. (Checked
/// against the ml_dtypes fixture byte for byte in `bf16_fixture_reads_and_round_trips`.)
fn write_npy_bf16(path: &Path, shape: &[u64], data: &[wgpu_activations::half::bf16]) {
    let dims = match shape {
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut h = format!("{{'descr': '<V2', 'fortran_order': False, 'shape': {dims}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((h.len() as u16).to_le_bytes());
    bytes.extend(h.as_bytes());
    for v in data {
        bytes.extend(v.to_bits().to_le_bytes());
    }
    std::fs::write(path, bytes).expect("write bf16 .npy");
}

/// Read a bfloat16 .npy written as ml_dtypes' `np.save` writes one: the shape and the values.
fn read_npy_bf16(path: &Path) -> (Vec<u64>, Vec<wgpu_activations::half::bf16>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00", "magic and version");
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + hlen) % 64, 0, "header padding");
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).expect("ascii header");
    assert!(
        header.starts_with("{'descr': '<V2', 'fortran_order': False, 'shape': ("),
        "{header}"
    );
    let dims = &header[header.find("'shape': (").expect("shape") + 10..header.find(')').unwrap()];
    let shape: Vec<u64> = dims
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().expect("dimension"))
        .collect();
    let data: Vec<_> = bytes[10 + hlen..]
        .chunks_exact(2)
        .map(|b| wgpu_activations::half::bf16::from_bits(u16::from_le_bytes([b[0], b[1]])))
        .collect();
    assert_eq!(
        data.len() as u64,
        shape.iter().product::<u64>(),
        "data length"
    );
    (shape, data)
}

/// The ml_dtypes fixture is read as bfloat16 (its values are the f32 values it was made from,
/// rounded by ml_dtypes: `half`'s rounding agrees), and `apply relu` writes back exactly the bytes
/// `np.save` wrote for ml_dtypes' own `np.maximum(x, 0)`, on the GPU and the CPU: what the CLI
/// writes, numpy with ml_dtypes reads (`np.load(f).view(ml_dtypes.bfloat16)`).
#[test]
fn bf16_fixture_reads_and_round_trips() {
    use wgpu_activations::half::bf16;
    let dir = tempfile::tempdir().expect("tempdir");
    let (shape, x) = read_npy_bf16(&fixture("bf16_x.npy"));
    assert_eq!(shape, vec![2, 3, 5]);
    let want: Vec<bf16> = FIXTURE_VALUES.iter().map(|&v| bf16::from_f32(v)).collect();
    assert_eq!(
        x.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        want.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    // The test's own writer makes the fixture's bytes.
    let mine = dir.path().join("mine.npy");
    write_npy_bf16(&mine, &shape, &x);
    assert_eq!(
        std::fs::read(&mine).unwrap(),
        std::fs::read(fixture("bf16_x.npy")).unwrap()
    );
    let want_relu = std::fs::read(fixture("bf16_relu.npy")).unwrap();
    let devices: &[&str] = if skip_gpu("bf16_fixture_reads_and_round_trips") {
        &["cpu", "reference"]
    } else {
        &["gpu", "cpu", "reference"]
    };
    for device in devices {
        let out = dir.path().join(format!("relu_{device}.npy"));
        let o = run(apply_args(
            "relu",
            &fixture("bf16_x.npy"),
            &out,
            &["--device", device],
        ));
        assert_ok(&o, &format!("relu bf16 {device}"));
        assert_eq!(
            std::fs::read(&out).unwrap(),
            want_relu,
            "{device}: not the bytes np.save wrote"
        );
    }
    // A 1-D and a 0-d array: numpy's shape spellings `(n,)` and `()`.
    for shape in [&[7u64][..], &[]] {
        let n = shape.iter().product::<u64>() as usize;
        let x: Vec<bf16> = (0..n).map(|i| bf16::from_f32(i as f32 - 3.0)).collect();
        let (inp, out) = (dir.path().join("in.npy"), dir.path().join("out.npy"));
        write_npy_bf16(&inp, shape, &x);
        let o = run(apply_args("relu", &inp, &out, &["--device", "cpu"]));
        assert_ok(&o, &format!("relu bf16 shape {shape:?}"));
        let (got_shape, got) = read_npy_bf16(&out);
        assert_eq!(got_shape, shape.to_vec());
        for (g, v) in got.iter().zip(&x) {
            assert_eq!(g.to_f32(), v.to_f32().max(0.0));
        }
    }
}

/// `apply` reads bfloat16 files and writes bfloat16 results within 1 ULP of bf16 of the exact
/// values (forward, derivative, backward; GPU and CPU).
#[test]
fn apply_bf16_files() {
    apply_half_files("apply_bf16_files", write_npy_bf16, read_npy_bf16);
}

/// `softmax` on bfloat16 files: forward and backward within 1 ULP of bf16 along the last axis and
/// another; `--out-dtype f32` writes float32 probabilities within 1 ULP of f32 of the exact
/// softmax of the bf16 inputs (from float16 input too); `--softmax2d` normalises over the
/// channels of a 4-D and a 3-D input and refuses other ranks and an explicit --axis.
#[test]
fn softmax_bf16_files_out_dtype_and_softmax2d() {
    use wgpu_activations::half::{bf16, f16};
    use wgpu_activations::ulp::ulp_error_of;
    use wgpu_activations::Softmax;
    let dir = tempfile::tempdir().expect("tempdir");
    let devices: &[&str] = if skip_gpu("softmax_bf16_files") {
        &["cpu", "reference"]
    } else {
        &["gpu", "cpu", "reference"]
    };
    let shape = [6usize, 50, 4];
    let n: usize = shape.iter().product();
    let x: Vec<bf16> = inputs(n)
        .iter()
        .map(|v| bf16::from_f32(v.clamp(-20.0, 20.0)))
        .collect();
    let xf: Vec<f32> = x.iter().map(|v| v.to_f32()).collect();
    let dy: Vec<bf16> = grads(n).iter().map(|&v| bf16::from_f32(v)).collect();
    let dyf: Vec<f32> = dy.iter().map(|v| v.to_f32()).collect();
    let (xp, yp, dyp, hp) = (
        dir.path().join("x.npy"),
        dir.path().join("ys.npy"),
        dir.path().join("dy.npy"),
        dir.path().join("x16.npy"),
    );
    let shape64: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    write_npy_bf16(&xp, &shape64, &x);
    write_npy_bf16(&dyp, &shape64, &dy);
    // float16 logits of nearly the same values.
    let xh: Vec<f16> = xf.iter().map(|&v| f16::from_f32(v)).collect();
    let xhf: Vec<f32> = xh.iter().map(|v| v.to_f32()).collect();
    write_npy(&hp, &shape64, &xh);
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let sm = Softmax::softmax();
    for axis in [2usize, 1] {
        let exact = wgpu_activations::reference::softmax_exact(&sm, &xf, &shape, axis).unwrap();
        let exact_h = wgpu_activations::reference::softmax_exact(&sm, &xhf, &shape, axis).unwrap();
        let ys: Vec<bf16> = exact
            .iter()
            .map(|&v| <bf16 as wgpu_activations::Element>::from_f64(v))
            .collect();
        let ysf: Vec<f32> = ys.iter().map(|v| v.to_f32()).collect();
        write_npy_bf16(&yp, &shape64, &ys);
        let exact_dx =
            wgpu_activations::reference::softmax_backward_exact(&sm, &ysf, &dyf, &shape, axis)
                .unwrap();
        let axis_s = axis.to_string();
        for device in devices {
            let out = dir.path().join("out.npy");
            let fwd = |input: &Path, extra: &[&str]| {
                let mut a = vec![
                    "softmax".to_string(),
                    "-i".into(),
                    path(input),
                    "-o".into(),
                    path(&out),
                    "--axis".into(),
                    axis_s.clone(),
                    "--device".into(),
                    device.to_string(),
                ];
                a.extend(extra.iter().map(|s| s.to_string()));
                let o = run(a);
                assert_ok(&o, &format!("softmax axis {axis} {device} {extra:?}"));
            };
            fwd(&xp, &[]);
            let (_, got) = read_npy_bf16(&out);
            for i in 0..n {
                let e = ulp_error_of(got[i], exact[i]);
                assert!(e <= 1.0, "{device} axis {axis} forward [{i}]: {e:.2} ULP");
            }
            for (input, exact) in [(&xp, &exact), (&hp, &exact_h)] {
                fwd(input, &["--out-dtype", "f32"]);
                let (s, got) = read_npy(&out);
                assert_eq!(s, shape64);
                // The f32 output is the f32 kernels' on the widened input, held to their bound
                // (tests/softmax.rs: 4 ULP; the rows path at temperature 1 measured 1.9).
                for i in 0..n {
                    let e = ulp_error(got[i], exact[i]);
                    assert!(
                        e <= 4.0,
                        "{device} axis {axis} f32 out [{i}]: {e:.2} ULP of f32"
                    );
                }
            }
            let o = run([
                "softmax",
                "--backward",
                "--saved-output",
                &path(&yp),
                "--grad",
                &path(&dyp),
                "-o",
                &path(&out),
                "--axis",
                &axis_s,
                "--device",
                device,
            ]);
            assert_ok(&o, &format!("softmax bf16 backward axis {axis} {device}"));
            let (_, got) = read_npy_bf16(&out);
            for i in 0..n {
                let e = ulp_error_of(got[i], exact_dx[i]);
                assert!(e <= 1.0, "{device} axis {axis} backward [{i}]: {e:.2} ULP");
            }
        }
    }
    // Softmax2d: channels are axis 1 of [N, C, H, W] and axis 0 of [C, H, W].
    for (shape, axis) in [(&[2usize, 5, 3, 4][..], 1usize), (&[5, 3, 4], 0)] {
        let n: usize = shape.iter().product();
        let x: Vec<f32> = inputs(n).iter().map(|v| v.clamp(-30.0, 30.0)).collect();
        let shape64: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
        let inp = dir.path().join("x2d.npy");
        write_npy(&inp, &shape64, &x);
        let exact = wgpu_activations::reference::softmax_exact(&sm, &x, shape, axis).unwrap();
        for device in devices {
            let out = dir.path().join("y2d.npy");
            let o = run([
                "softmax",
                "--softmax2d",
                "-i",
                &path(&inp),
                "-o",
                &path(&out),
                "--device",
                device,
            ]);
            assert_ok(&o, &format!("softmax2d {shape:?} {device}"));
            let (s, got) = read_npy(&out);
            assert_eq!(s, shape64);
            for i in 0..n {
                let e = ulp_error(got[i], exact[i]);
                assert!(e <= 1.0, "softmax2d {shape:?} {device} [{i}]: {e:.2} ULP");
            }
        }
    }
    let flat = dir.path().join("flat.npy");
    write_npy(&flat, &[3, 4], &[0.5f32; 12]);
    let out = dir.path().join("never.npy");
    for extra in [&[][..], &["--axis", "1"]] {
        let mut a = vec![
            "softmax".to_string(),
            "--softmax2d".into(),
            "-i".into(),
            path(&flat),
            "-o".into(),
            path(&out),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        let o = run(a);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).starts_with("error:"), "{}", stderr(&o));
        assert!(!out.exists());
    }
}

// ---------------------------------------------------------------------------------------------
// The GLU family
// ---------------------------------------------------------------------------------------------

/// `apply glu|swiglu|geglu|reglu` along an axis, forward and backward, on every device, against
/// the library's exact reference (output shapes: the axis halved; dx: x's shape).
#[test]
fn apply_glu_family() {
    let dir = tempfile::tempdir().expect("tempdir");
    let x = dir.path().join("x.npy");
    let shape = [3u64, 4, 6];
    let data = inputs(72);
    write_npy(&x, &shape, &data);
    let dims = [3usize, 4, 6];
    let devices: &[&str] = if skip_gpu("apply_glu_family") {
        &["cpu", "reference"]
    } else {
        &["gpu", "cpu", "reference"]
    };
    for (op, params, g) in [
        ("glu", None, wgpu_activations::Glu::glu()),
        ("swiglu", None, wgpu_activations::Glu::swiglu()),
        (
            "geglu",
            Some("approximate=tanh"),
            wgpu_activations::Glu::geglu_tanh(),
        ),
        ("reglu", None, wgpu_activations::Glu::reglu()),
    ] {
        for (axis, out_shape) in [("-1", vec![3u64, 4, 3]), ("1", vec![3, 2, 6])] {
            let a: i64 = axis.parse().expect("axis");
            let want = reference::glu(&g, &data, &dims, a).expect("reference");
            let dy = dir.path().join("dy.npy");
            let dyv = grads(want.len());
            write_npy(&dy, &out_shape, &dyv);
            let want_dx = reference::glu_backward(&g, &data, &dyv, &dims, a).expect("reference");
            for device in devices {
                let out = dir.path().join("y.npy");
                let mut extra = vec!["--axis", axis, "--device", device];
                if let Some(p) = params {
                    extra.extend(["--param", p]);
                }
                assert_ok(&run(apply_args(op, &x, &out, &extra)), op);
                let (s, y) = read_npy(&out);
                assert_eq!(s, out_shape, "{op} {device} axis {axis}");
                for (k, (&got, &w)) in y.iter().zip(&want).enumerate() {
                    assert!(
                        ulp_error(got, w as f64) <= 5.0,
                        "{op} {device} [{k}]: {got} vs {w}"
                    );
                }
                let dx = dir.path().join("dx.npy");
                let mut extra = extra.clone();
                extra.extend(["--backward", "--grad"]);
                let mut args = apply_args(op, &x, &dx, &extra);
                args.push(dy.clone().into());
                assert_ok(&run(args), op);
                let (s, got) = read_npy(&dx);
                assert_eq!(s, shape.to_vec());
                for (k, (&got, &w)) in got.iter().zip(&want_dx).enumerate() {
                    assert!(
                        ulp_error(got, w as f64) <= 9.0 || (got - w).abs() < 1e-6,
                        "{op} backward {device} [{k}]: {got} vs {w}"
                    );
                }
            }
        }
    }
}

/// The GLU family's usage errors: an odd axis, a bad axis, a dy of the wrong shape, options that
/// do not apply, an unknown parameter; and `--axis` on an element-wise op.
#[test]
fn apply_glu_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let x = small_input(dir.path()); // [2, 3]
    let e = expect_error(dir.path(), 2, |o| {
        apply_args("glu", &x, o, &["--device", "cpu"])
    });
    assert!(e.contains("odd"), "{e}");
    let e = expect_error(dir.path(), 2, |o| {
        apply_args("swiglu", &x, o, &["--axis", "2"])
    });
    assert!(e.contains("axis 2"), "{e}");
    let e = expect_error(dir.path(), 2, |o| {
        apply_args("swiglu", &x, o, &["--axis", "0", "--derivative"])
    });
    assert!(e.contains("--derivative"), "{e}");
    let e = expect_error(dir.path(), 2, |o| {
        apply_args(
            "reglu",
            &x,
            o,
            &["--axis", "0", "--param", "approximate=tanh"],
        )
    });
    assert!(e.contains("approximate"), "{e}");
    let e = expect_error(dir.path(), 2, |o| {
        apply_args("relu", &x, o, &["--axis", "0"])
    });
    assert!(e.contains("--axis"), "{e}");
    let dy = dir.path().join("dy.npy");
    write_npy(&dy, &[2, 3], &[1.0f32; 6]);
    let e = expect_error(dir.path(), 2, |o| {
        let mut a = apply_args("glu", &x, o, &["--axis", "0", "--backward", "--grad"]);
        a.push(dy.clone().into());
        a
    });
    assert!(e.contains("shape mismatch"), "{e}");
}
