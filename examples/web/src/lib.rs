//! gelu and softmax on the browser's WebGPU through the crate's async API, each judged against
//! the crate's exact f64 reference: `run(n)` returns the report the page shows.
//!
//! Exported to JavaScript with wasm-bindgen; `index.html` loads the bindings that
//! `wasm-bindgen --target web` writes to `pkg/`.

use wasm_bindgen::prelude::*;
use wgpu_activations::harness::{random_inputs, summarize};
use wgpu_activations::ulp::ulp_error;
use wgpu_activations::{reference, Activation, Context, Mode, Softmax};

#[wasm_bindgen]
extern "C" {
    /// The browser console, for progress.
    #[wasm_bindgen(js_namespace = console)]
    fn log(s: &str);
}

fn js(e: wgpu_activations::Error) -> JsValue {
    JsValue::from_str(&e.to_string())
}

/// Run gelu (forward, derivative, backward) over `n` values (seeded random values in ±100 and the
/// crate's hard inputs: ±0, subnormals, ±inf, NaN, …) and softmax over rows of 1000 on the GPU,
/// and report each one's max ULP error against the exact reference, one line each; an error (the
/// report) if any value is outside the crate's bounds. `own_device`: adopt the page's own adapter
/// and device (`Context::from_device_async`) instead of `Context::new_async`.
#[wasm_bindgen]
pub async fn run(n: u32, own_device: bool) -> Result<String, JsValue> {
    // A panic would otherwise end the page's promise with a bare "unreachable".
    std::panic::set_hook(Box::new(|info| log(&format!("panic: {info}"))));
    log("wgpu-activations: creating the context");
    let ctx = if own_device {
        // The page's own adapter and device, adopted with `from_device_async`.
        let instance = wgpu_activations::wgpu::Instance::default();
        let adapter = instance
            .request_adapter(&Default::default())
            .await
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        let (device, queue) = adapter
            .request_device(&Default::default())
            .await
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        Context::from_device_async(device, queue).await
    } else {
        Context::new_async().await.map_err(js)?
    };
    log("wgpu-activations: context ready");
    let mut out = String::new();
    // Values outside the crate's bounds (gelu: 4 ULP forward, 8 derivative and backward).
    let mut failures = 0usize;
    if let Some(i) = ctx.adapter_info() {
        out += &format!(
            "adapter: {} ({:?}, {:?})\n",
            i.name, i.backend, i.device_type
        );
    }
    out += &format!(
        "subgroup kernels: {}; f16 shaders: {}\n",
        ctx.subgroups(),
        ctx.features()
            .contains(wgpu_activations::wgpu::Features::SHADER_F16)
    );

    let gelu = Activation::gelu();
    let mut x = wgpu_activations::harness::hard_inputs();
    x.extend(random_inputs(1, n as usize));
    let y = ctx.forward_async(&gelu, &x).await.map_err(js)?;
    log("wgpu-activations: gelu forward done");
    let d = ctx.derivative_async(&gelu, &x).await.map_err(js)?;
    let dy = wgpu_activations::harness::gradients(x.len());
    let dx = ctx.backward_async(&gelu, &x, &dy).await.map_err(js)?;
    log("wgpu-activations: gelu backward done");
    for (mode, got, grad) in [
        (Mode::Forward, &y, None),
        (Mode::Derivative, &d, None),
        (Mode::Backward, &dx, Some(&dy[..])),
    ] {
        let s = summarize(&gelu, mode, &x, grad, got);
        failures += s.failures;
        out += &format!(
            "gelu {}: max {:.3} ULP over {} values, {} out of bounds\n",
            mode.name(),
            s.max_ulps,
            s.count,
            s.failures
        );
    }

    let (rows, len) = (64usize, 1000usize);
    let logits = random_inputs(2, rows * len);
    for sm in [Softmax::softmax(), Softmax::log_softmax()] {
        let p = ctx
            .softmax_async(&sm, &logits, &[rows, len], 1)
            .await
            .map_err(js)?;
        let exact = reference::softmax_exact(&sm, &logits, &[rows, len], 1).map_err(js)?;
        let worst = p
            .iter()
            .zip(&exact)
            .map(|(&g, &e)| ulp_error(g, e))
            .fold(0.0f64, f64::max);
        // Log-probabilities near 0 may instead be within 2^-22 absolute.
        let log = sm.kind == wgpu_activations::SoftmaxKind::LogSoftmax;
        failures += p
            .iter()
            .zip(&exact)
            .filter(|&(&g, &e)| {
                ulp_error(g, e) > SOFTMAX_MAX_ULP && !(log && (g as f64 - e).abs() <= LOG_ABS)
            })
            .count();
        out += &format!(
            "{} {rows}x{len}: max {worst:.3} ULP over {} values\n",
            sm.kind.name(),
            p.len()
        );
    }
    if failures > 0 {
        return Err(JsValue::from_str(&format!("out of bounds:\n{out}")));
    }
    Ok(out)
}

/// The softmax family's bounds on the GPU (tests/softmax.rs): 4 ULP, or for a log-probability
/// 2^-22 absolute.
const SOFTMAX_MAX_ULP: f64 = 4.0;
const LOG_ABS: f64 = 1.0 / (1u64 << 22) as f64;
