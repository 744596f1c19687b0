//! The GPU context: adapter and device acquisition (honouring `WGPU_BACKEND`,
//! `WGPU_ADAPTER_NAME` and `WGPU_POWER_PREF`), the pipeline cache, error scopes and the one
//! readback helper. Waits go through [`crate::gpu::wait`]: futures that never block a thread,
//! which the blocking calls wrap with `pollster`.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use parking_lot::{ReentrantMutex, ReentrantMutexGuard};

use crate::base::dtype::{DType, Element};
use crate::base::error::{Error, Result};
use crate::gpu::tensor::check_range_of;
use crate::gpu::wait::{capture, capturing, defer, ready_now, ErrorOf, ScopeFuture, Signal, Wait};

/// The lock that serialises the crate's work on wgpu's GL backend, process-wide.
///
/// wgpu's GL backend has one GL context per adapter, which one thread at a time may use: every
/// GL call takes the context's lock, and a thread that waits more than six seconds for it panics
/// inside wgpu-hal ("Could not lock adapter context. This is most-likely a deadlock."). Mesa's
/// llvmpipe compiles a compute shader to machine code at its first dispatch, which holds that lock
/// for seconds for the larger kernels (softmax's), so concurrent callers used to time out. On GL
/// the crate therefore takes this lock around all of its own GL work — pipeline creation and the
/// first dispatch that compiles it ([`Context::kernel`]), every error-scoped call (buffer
/// creation, uploads, recording, submissions, readback), the streaming ring's waits and maps, and
/// the dropping of the objects it owns — so its callers on any number of threads wait here, as
/// long as needed, instead of in wgpu. Re-entrant, because the crate's calls nest. Other backends
/// never take it.
static GL_LOCK: ReentrantMutex<()> = parking_lot::const_reentrant_mutex(());

/// Held while the crate works on a GL device (see [`GL_LOCK`]); empty on other backends.
pub(crate) struct GlGuard(#[allow(dead_code)] Option<ReentrantMutexGuard<'static, ()>>);

impl GlGuard {
    pub(crate) fn new(gl: bool) -> GlGuard {
        GlGuard(gl.then(|| GL_LOCK.lock()))
    }
}

/// Whether `device` is on wgpu's GL backend.
pub(crate) fn is_gl(device: &wgpu::Device) -> bool {
    device.adapter_info().backend == wgpu::Backend::Gl
}

/// A value that, on GL, is dropped under [`GL_LOCK`]: wgpu destroys a buffer's or pipeline's GL
/// object when its last handle goes, which takes the GL context like any other GL call.
pub(crate) struct GlDrop<T> {
    value: std::mem::ManuallyDrop<T>,
    gl: bool,
}

impl<T> GlDrop<T> {
    pub(crate) fn new(value: T, gl: bool) -> GlDrop<T> {
        GlDrop {
            value: std::mem::ManuallyDrop::new(value),
            gl,
        }
    }

    /// Drop under the lock from now on if `gl`.
    pub(crate) fn set_gl(&mut self, gl: bool) {
        self.gl |= gl;
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for GlDrop<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

impl<T> std::ops::Deref for GlDrop<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> std::ops::DerefMut for GlDrop<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T> Drop for GlDrop<T> {
    fn drop(&mut self) {
        let _gl = GlGuard::new(self.gl);
        // SAFETY: dropped once, here; the field is never used again.
        unsafe { std::mem::ManuallyDrop::drop(&mut self.value) };
    }
}

/// A pipeline-cache key: small, typed, and free of parameter values (those go in a uniform).
/// Each kernel family has its own key type; the cache keeps one map per type.
pub(crate) trait KernelKey: Copy + Eq + std::hash::Hash + Send + Sync + 'static {}
impl<K: Copy + Eq + std::hash::Hash + Send + Sync + 'static> KernelKey for K {}

/// One map from key to kernel per key type.
type KernelMaps = HashMap<TypeId, Box<dyn Any + Send + Sync>>;

/// What a kernel's builder returns: its label, WGSL, bind-group layout and entry point.
pub(crate) struct KernelSource {
    pub label: String,
    pub wgsl: String,
    pub entries: Vec<wgpu::BindGroupLayoutEntry>,
    pub entry_point: &'static str,
}

pub(crate) struct CachedKernel {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// A GPU device and queue with the crate's compiled kernels.
///
/// Create one with [`Context::new`] (picks an adapter) or [`Context::from_device`] (a device the
/// caller already owns). Cheap to share: methods take `&self`.
pub struct Context {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: Option<wgpu::AdapterInfo>,
    cache: GlDrop<Mutex<KernelMaps>>,
    /// Whether the device is on wgpu's GL backend: the crate's GL work is then serialised
    /// (see [`GL_LOCK`]).
    gl: bool,
    lost: Arc<Mutex<Option<String>>>,
    binding_cap: AtomicU64,
    group_cap: AtomicU64,
    /// Whether kernels may use subgroup operations where the device has `SUBGROUP`.
    subgroups: AtomicBool,
    /// Whether the device fuses WGSL's `fma` (probed once): kernels then take math.wgsl's cheaper
    /// exact-product path (override `MATH_FUSED_FMA`).
    fused_fma: bool,
    /// Whether the device flushes subnormals (probed once).
    flushes_subnormals: bool,
    /// The thread that polls the device while futures wait (started on the first wait).
    #[cfg(not(target_arch = "wasm32"))]
    poller: std::sync::OnceLock<std::result::Result<crate::gpu::wait::Poller, String>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("adapter", &self.info)
            .finish_non_exhaustive()
    }
}

/// Describe every adapter the instance sees, one per line.
fn list_adapters(adapters: &[wgpu::Adapter]) -> String {
    if adapters.is_empty() {
        return "none found (is a Vulkan, Metal, DX12 or GL driver installed? On Linux without a GPU, \
                install Mesa's lavapipe: `apt-get install mesa-vulkan-drivers`)"
            .to_string();
    }
    adapters
        .iter()
        .map(|a| {
            let i = a.get_info();
            format!("{} ({:?}, {:?})", i.name, i.backend, i.device_type)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// An environment variable's value: `None` when unset, [`Error::BadEnvironment`] when it is not
/// Unicode.
fn env_value(name: &'static str, expected: &'static str) -> Result<Option<String>> {
    match std::env::var(name) {
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(Error::BadEnvironment {
            name,
            value: v.to_string_lossy().into_owned(),
            expected,
        }),
    }
}

/// `WGPU_BACKEND`: a comma-separated list of wgpu's backend names (all backends when unset).
/// Unlike wgpu's own parser, which skips a name it does not know, an unknown name is an error.
fn env_backends() -> Result<wgpu::Backends> {
    const EXPECTED: &str =
        "a comma-separated list of vulkan (vk), metal (mtl), dx12 (d3d12), gl (opengl, gles), webgpu, noop";
    let Some(value) = env_value("WGPU_BACKEND", EXPECTED)? else {
        return Ok(wgpu::Backends::all());
    };
    let bad = |value: &str| Error::BadEnvironment {
        name: "WGPU_BACKEND",
        value: value.to_string(),
        expected: EXPECTED,
    };
    let mut backends = wgpu::Backends::empty();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        backends |= match name.to_lowercase().as_str() {
            "vulkan" | "vk" => wgpu::Backends::VULKAN,
            "dx12" | "d3d12" => wgpu::Backends::DX12,
            "metal" | "mtl" => wgpu::Backends::METAL,
            "opengl" | "gles" | "gl" => wgpu::Backends::GL,
            "webgpu" => wgpu::Backends::BROWSER_WEBGPU,
            "noop" => wgpu::Backends::NOOP,
            _ => return Err(bad(&value)),
        };
    }
    if backends.is_empty() {
        return Err(bad(&value));
    }
    Ok(backends)
}

/// `WGPU_POWER_PREF`: low, high or none (high when unset).
fn env_power_preference() -> Result<wgpu::PowerPreference> {
    const EXPECTED: &str = "low, high or none";
    let Some(value) = env_value("WGPU_POWER_PREF", EXPECTED)? else {
        return Ok(wgpu::PowerPreference::HighPerformance);
    };
    match value.trim().to_lowercase().as_str() {
        "low" => Ok(wgpu::PowerPreference::LowPower),
        "high" => Ok(wgpu::PowerPreference::HighPerformance),
        "none" => Ok(wgpu::PowerPreference::None),
        _ => Err(Error::BadEnvironment {
            name: "WGPU_POWER_PREF",
            value,
            expected: EXPECTED,
        }),
    }
}

impl Context {
    /// Pick an adapter and create a device, blocking. See [`Context::new_async`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new() -> Result<Context> {
        pollster::block_on(Self::new_async())
    }

    /// Pick an adapter (honouring `WGPU_BACKEND`, `WGPU_ADAPTER_NAME` — a case-insensitive
    /// substring of the adapter's name — and `WGPU_POWER_PREF`) and create a device with the
    /// adapter's real limits and the optional features the crate can use (`SHADER_F16`,
    /// `SUBGROUP`, `TIMESTAMP_QUERY`).
    ///
    /// A value of `WGPU_BACKEND` or `WGPU_POWER_PREF` that names no backend or preference is an
    /// error ([`Error::BadEnvironment`]), not silently ignored.
    pub async fn new_async() -> Result<Context> {
        let backends = env_backends()?;
        let power = env_power_preference()?;
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapters = instance.enumerate_adapters(backends).await;
        let adapter = match std::env::var("WGPU_ADAPTER_NAME") {
            Ok(want) => {
                let want = want.to_lowercase();
                let found = adapters
                    .iter()
                    .find(|a| a.get_info().name.to_lowercase().contains(&want));
                match found {
                    Some(a) => a.clone(),
                    None => {
                        return Err(Error::NoAdapter(format!(
                            "WGPU_ADAPTER_NAME={want} matches no adapter; adapters: {}",
                            list_adapters(&adapters)
                        )))
                    }
                }
            }
            Err(_) => instance
                .request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference: power,
                    force_fallback_adapter: false,
                    compatible_surface: None,
                    apply_limit_buckets: false,
                })
                .await
                .map_err(|e| {
                    Error::NoAdapter(format!("{e}; adapters: {}", list_adapters(&adapters)))
                })?,
        };
        Self::from_adapter(&adapter).await
    }

    /// Create a device on `adapter` with its real limits and the optional features it has.
    pub async fn from_adapter(adapter: &wgpu::Adapter) -> Result<Context> {
        let wanted =
            wgpu::Features::SHADER_F16 | wgpu::Features::SUBGROUP | wgpu::Features::TIMESTAMP_QUERY;
        let features = adapter.features() & wanted;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("wgpu-activations"),
                required_features: features,
                required_limits: adapter.limits(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::RequestDevice(e.to_string()))?;
        // The default handler panics; every call of ours runs inside error scopes, so anything
        // reaching here came from elsewhere and is only reported.
        device.on_uncaptured_error(Arc::new(|e| {
            eprintln!("wgpu-activations: uncaptured wgpu error: {e}")
        }));
        let mut ctx = Self::adopt(device, queue);
        ctx.info = Some(adapter.get_info());
        ctx.probe_async().await;
        Ok(ctx)
    }

    /// Use a device and queue the caller already owns. The crate records work into the caller's
    /// encoders and submits only in the convenient (slice) layer — and once here, a one-element
    /// kernel that probes whether the device fuses `fma`. It also installs a device-lost
    /// callback, so that calls after a loss return [`Error::DeviceLost`].
    ///
    /// ```no_run
    /// # use wgpu_activations::*;
    /// // A device the caller already owns (an engine's), adopted as it is.
    /// let instance = wgpu::Instance::default();
    /// let adapter = pollster::block_on(instance.request_adapter(&Default::default())).unwrap(); // ok: an example
    /// let (device, queue) = pollster::block_on(adapter.request_device(&Default::default())).unwrap(); // ok: an example
    /// let ctx = Context::from_device(device, queue);
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue) -> Context {
        pollster::block_on(Self::from_device_async(device, queue))
    }

    /// [`Context::from_device`] without blocking: the `fma` probe's wait is awaited.
    pub async fn from_device_async(device: wgpu::Device, queue: wgpu::Queue) -> Context {
        let mut ctx = Self::adopt(device, queue);
        ctx.probe_async().await;
        ctx
    }

    /// The context for `device` before its probe.
    fn adopt(device: wgpu::Device, queue: wgpu::Queue) -> Context {
        let lost = Arc::new(Mutex::new(None));
        let flag = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut slot) = flag.lock() {
                *slot = Some(format!("{reason:?}: {message}"));
            }
        });
        let gl = is_gl(&device);
        Context {
            device,
            queue,
            info: None,
            cache: GlDrop::new(Mutex::new(HashMap::new()), gl),
            gl,
            lost,
            binding_cap: AtomicU64::new(0),
            group_cap: AtomicU64::new(0),
            subgroups: AtomicBool::new(true),
            fused_fma: false,
            flushes_subnormals: false,
            #[cfg(not(target_arch = "wasm32"))]
            poller: std::sync::OnceLock::new(),
        }
    }

    /// Learn whether the device fuses `fma` and flushes subnormals. Without the probe the kernels
    /// take the exact path that needs no fused fma: correct everywhere, only slower.
    async fn probe_async(&mut self) {
        (self.fused_fma, self.flushes_subnormals) = self.probe().await.unwrap_or((false, false));
    }

    /// Run a one-invocation kernel that tells whether WGSL's `fma` is fused on this device and
    /// whether it flushes subnormals (WGSL allows either; lavapipe does neither). The one submit a
    /// context makes on its own, at construction.
    async fn probe(&self) -> Result<(bool, bool)> {
        let wgsl = format!(
            "{}\n{}",
            crate::gpu::source::MATH,
            crate::gpu::source::PROBE
        );
        let entries = vec![
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            },
            crate::gpu::binding::storage_entry(1, false),
        ];
        let src = KernelSource {
            label: "fma_probe".into(),
            wgsl,
            entries,
            entry_point: "main",
        };
        let (kernel, out) = self
            .checked(|| Ok((self.compile(&src)?, self.create_tensor::<f32>(2)?)))
            .await?;
        let (kernel, out) = (GlDrop::new(kernel, self.gl), GlDrop::new(out, self.gl));
        let done = self.scoped_async("fma_probe", || {
            let one = wgpu::util::DeviceExt::create_buffer_init(
                &self.device,
                &wgpu::util::BufferInitDescriptor {
                    label: Some("fma_probe"),
                    // .w: a subnormal (2^-127) read from memory, as a tensor's value would be (a
                    // constant operand is folded differently by some compilers).
                    contents: bytemuck::cast_slice(&[
                        1.0f32,
                        1.0,
                        1.0,
                        f32::from_bits(0x0040_0000),
                    ]),
                    usage: wgpu::BufferUsages::UNIFORM,
                },
            );
            let group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("fma_probe"),
                layout: &kernel.layout,
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: one.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: out.as_entire_binding(),
                    },
                ],
            });
            let mut encoder = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("fma_probe"),
                });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("fma_probe"),
                    timestamp_writes: None,
                });
                pass.set_pipeline(&kernel.pipeline);
                pass.set_bind_group(0, &group, &[]);
                pass.dispatch_workgroups(1, 1, 1);
            }
            self.submit(encoder)
        });
        done.await?.await?;
        let got: Vec<f32> = self.read_async(&out, 0, 2).await?;
        Ok((got[0] == 1.0, got[1] == 1.0))
    }

    /// Whether the device fuses WGSL's `fma` (probed when the context was created).
    pub fn fused_fma(&self) -> bool {
        self.fused_fma
    }

    /// Whether the device flushes subnormal f32 values to zero in arithmetic (probed when the
    /// context was created; NVIDIA's Vulkan driver does, lavapipe does not). WGSL allows it. On
    /// such a device results below 2^-126 come back as ±0 (within the accuracy metric's 2^-123
    /// floor) and subnormal inputs act as ±0 wherever they enter arithmetic; sign tests are made
    /// on bits, so the kinks of relu and its kin still see a subnormal's sign.
    pub fn flushes_subnormals(&self) -> bool {
        self.flushes_subnormals
    }

    /// The device.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }
    /// The queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }
    /// The adapter's description, when the context chose the adapter.
    pub fn adapter_info(&self) -> Option<&wgpu::AdapterInfo> {
        self.info.as_ref()
    }
    /// The device's limits.
    pub fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }
    /// The device's enabled features.
    pub fn features(&self) -> wgpu::Features {
        self.device.features()
    }
    /// True when the adapter is a software rasterizer (lavapipe, WARP, SwiftShader): its speed
    /// says nothing about a GPU's.
    pub fn is_software(&self) -> bool {
        self.info
            .as_ref()
            .is_some_and(|i| i.device_type == wgpu::DeviceType::Cpu)
    }

    /// Cap the bytes one dispatch binds below the device's `max_storage_buffer_binding_size`
    /// (0 removes the cap). Larger tensors are split into more dispatches; tests use this to
    /// exercise the split without gigabyte tensors. The cap is raised to at least four times the
    /// storage offset alignment.
    #[cfg(feature = "testing")]
    pub fn set_max_binding_bytes(&self, bytes: u64) {
        self.binding_cap.store(bytes, Ordering::Relaxed);
    }

    /// Workgroups an element-wise dispatch uses at most (each invocation loops over the tensor).
    /// A software rasterizer pays a fixed cost per workgroup, so it gets few; a GPU gets enough to
    /// fill every multiprocessor many times over. Tests override it (feature `testing`).
    pub(crate) fn max_elementwise_groups(&self) -> u32 {
        match self.group_cap.load(Ordering::Relaxed) {
            0 if self.is_software() => 4096,
            0 => 8192,
            cap => cap as u32,
        }
    }

    /// Cap the workgroups of one element-wise dispatch (0 restores the default). More than 65,535
    /// fold into a 2-D grid.
    #[cfg(feature = "testing")]
    pub fn set_max_elementwise_groups(&self, groups: u32) {
        self.group_cap.store(groups as u64, Ordering::Relaxed);
    }

    /// Allow (the default) or forbid subgroup operations. Forbidden, or on a device without
    /// `SUBGROUP`, the kernels that use them take their workgroup-memory fallback; tests use this to
    /// exercise both paths on one adapter.
    #[cfg(feature = "testing")]
    pub fn set_subgroups(&self, allow: bool) {
        self.subgroups.store(allow, Ordering::Relaxed);
    }

    /// Build `wgsl` (a compute entry point `main` with no bindings) as the crate builds its
    /// kernels, and drop it: tests use this to check how a backend's compile errors come back.
    #[cfg(feature = "testing")]
    pub fn compile_wgsl(&self, label: &str, wgsl: &str) -> Result<()> {
        self.compile(&KernelSource {
            label: label.to_string(),
            wgsl: wgsl.to_string(),
            entries: Vec::new(),
            entry_point: "main",
        })
        .map(|_| ())
    }

    /// Whether kernels use subgroup operations: the device has `SUBGROUP`, it is not a browser's
    /// WebGPU (and, with the `testing` feature, `set_subgroups` has not forbidden them).
    ///
    /// WebGPU's `subgroups` feature offers `subgroup_invocation_id` and `subgroup_size` but not
    /// the `subgroup_id` and `num_subgroups` built-ins the subgroup softmax kernels use, so there
    /// they take their workgroup-memory path, as on a device without subgroups.
    pub fn subgroups(&self) -> bool {
        self.subgroups.load(Ordering::Relaxed)
            && self.device.features().contains(wgpu::Features::SUBGROUP)
            && self.device.adapter_info().backend != wgpu::Backend::BrowserWebGpu
    }

    /// The smallest subgroup size the adapter may use (4, the least any adapter reports, when the
    /// context did not choose the adapter).
    pub(crate) fn subgroup_min_size(&self) -> u32 {
        self.info
            .as_ref()
            .map_or(wgpu::MINIMUM_SUBGROUP_MIN_SIZE, |i| i.subgroup_min_size)
            .clamp(
                wgpu::MINIMUM_SUBGROUP_MIN_SIZE,
                wgpu::MAXIMUM_SUBGROUP_MAX_SIZE,
            )
    }

    /// The bytes one dispatch may bind: the device limit, or the cap if lower.
    pub(crate) fn max_binding_bytes(&self) -> u64 {
        let limits = self.device.limits();
        let floor = 4 * limits.min_storage_buffer_offset_alignment.max(4) as u64;
        let device = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size)
            / 4
            * 4;
        match self.binding_cap.load(Ordering::Relaxed) {
            0 => device,
            cap => cap.max(floor).min(device),
        }
    }

    /// The flag the device-lost callback sets, shared with prepared ops so that they can refuse
    /// to record on a lost device.
    pub(crate) fn lost_flag(&self) -> Arc<Mutex<Option<String>>> {
        self.lost.clone()
    }

    pub(crate) fn check_alive(&self) -> Result<()> {
        match self.lost.lock().ok().and_then(|g| g.clone()) {
            Some(m) => Err(Error::DeviceLost(m)),
            None => Ok(()),
        }
    }

    /// Whether the device is on wgpu's GL backend.
    pub(crate) fn is_gl(&self) -> bool {
        self.gl
    }

    /// Hold the crate's GL lock (see [`GL_LOCK`]) until the guard drops; nothing on other
    /// backends.
    pub(crate) fn gl_guard(&self) -> GlGuard {
        GlGuard::new(self.gl)
    }

    /// Run `f` inside validation, internal and out-of-memory error scopes (and, on GL, the
    /// crate's GL lock); a caught error becomes [`Error::Wgpu`] labelled with `label`.
    ///
    /// On native backends the scopes' results are known at once. On WebGPU they come later: inside
    /// [`Context::checked`] (every `_async` call) they are awaited there, and `f`'s result is
    /// returned meanwhile.
    pub(crate) fn scoped<T>(&self, label: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let _gl = self.gl_guard();
        self.check_alive()?;
        if !Self::scopes_wanted() {
            return f();
        }
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let Some([v, i, o]) =
            self.pop_scopes([validation.pop(), internal.pop(), oom.pop()], || {
                let label = label.to_string();
                Box::new(move |e| Error::Wgpu {
                    label,
                    message: e.to_string(),
                })
            })
        else {
            return out;
        };
        let v = v.or(i);
        if out.is_err() || v.is_some() || o.is_some() {
            // A lost device explains any failure; its callback runs from inside a poll.
            let _ = self.device.poll(wgpu::PollType::Poll);
            self.check_alive()?;
        }
        if let Some(e) = v.or(o) {
            return Err(Error::Wgpu {
                label: label.to_string(),
                message: e.to_string(),
            });
        }
        self.check_alive()?;
        out
    }

    /// The results of three popped error scopes when all are known now (native backends). Else
    /// (WebGPU) they are kept for the enclosing [`Context::checked`], which turns an error into
    /// the call's with `error()`, and `None` is returned (a native build outside one waits for
    /// them; there is no such case on wgpu's native backends, whose results are always known).
    fn pop_scopes<F>(
        &self,
        pops: [F; 3],
        error: impl FnOnce() -> ErrorOf,
    ) -> Option<[Option<wgpu::Error>; 3]>
    where
        F: std::future::Future<Output = Option<wgpu::Error>> + wgpu::WasmNotSend + 'static,
    {
        let mut pops = pops.map(|p| Box::pin(p) as ScopeFuture);
        let mut ready = [None, None, None];
        for (slot, pop) in ready.iter_mut().zip(pops.iter_mut()) {
            *slot = ready_now(pop.as_mut());
        }
        if let [Some(v), Some(i), Some(o)] = ready {
            return Some([v, i, o]);
        }
        #[cfg(not(target_arch = "wasm32"))]
        if !capturing() {
            return Some(pops.map(pollster::block_on));
        }
        defer(Vec::from(pops), error());
        None
    }

    /// Whether to open error scopes: always on native backends; on wasm32 only inside
    /// [`Context::checked`], which can await them (outside it, a synchronous call's errors go to
    /// the device's uncaptured-error handler instead of being dropped unread).
    fn scopes_wanted() -> bool {
        cfg!(not(target_arch = "wasm32")) || capturing()
    }

    /// Run `f` — any of the `record_*`/`prepare_*` calls, or several, or any synchronous code
    /// calling the crate — and await the error checks it could not finish at once, without
    /// blocking: on WebGPU a validation error comes back from the GPU process later; on native
    /// backends it is known at once and this adds nothing.
    ///
    /// ```no_run
    /// # async fn demo() -> wgpu_activations::Result<()> {
    /// # use wgpu_activations::*;
    /// let ctx = Context::new_async().await?;
    /// let (x, y) = (ctx.create_tensor::<f32>(1024)?, ctx.create_tensor::<f32>(1024)?);
    /// let gelu = Activation::by_name("gelu")?;
    /// let op = ctx
    ///     .checked(|| ctx.prepare_forward(&gelu, Tensor::whole(&x), Tensor::whole(&y)))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn checked<R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        capture(f).settle().await
    }

    /// [`Context::scoped`] inside [`Context::checked`].
    pub(crate) async fn scoped_async<T>(
        &self,
        label: &str,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        self.checked(|| self.scoped(label, f)).await
    }

    /// A future that completes when `signal` does; on native backends the poller thread polls
    /// the device until then (the callback that completes it waits for `index`).
    fn watch(&self, signal: Arc<Signal>, index: wgpu::SubmissionIndex) -> Result<Wait> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            let poller = self.poller.get_or_init(|| {
                crate::gpu::wait::Poller::start(self.device.clone(), self.gl)
                    .map_err(|e| e.to_string())
            });
            match poller {
                Ok(p) => p.watch(signal.clone(), index),
                Err(m) => {
                    return Err(Error::Wgpu {
                        label: "poller".into(),
                        message: m.clone(),
                    })
                }
            }
        }
        #[cfg(target_arch = "wasm32")]
        let _ = index;
        Ok(Wait::new(signal))
    }

    /// Submit `encoder`; the returned future completes when the device has finished it.
    pub(crate) fn submit(&self, encoder: wgpu::CommandEncoder) -> Result<Wait> {
        let index = self.queue.submit([encoder.finish()]);
        let signal = Signal::new();
        let done = signal.clone();
        self.queue
            .on_submitted_work_done(move || done.complete(Ok(())));
        self.watch(signal, index)
    }

    /// Ask for `slice` to be mapped once submission `index` (the last that uses it) is done; the
    /// returned future completes with the map's result.
    pub(crate) fn map_wait(
        &self,
        slice: wgpu::BufferSlice<'_>,
        mode: wgpu::MapMode,
        index: wgpu::SubmissionIndex,
    ) -> Result<Wait> {
        let signal = Signal::new();
        let mapped = signal.clone();
        slice.map_async(mode, move |r| {
            mapped.complete(r.map_err(|e| Error::Map(e.to_string())))
        });
        self.watch(signal, index)
    }

    /// The cached kernel for `key`, compiling it with `build` on first use.
    pub(crate) fn kernel<K: KernelKey>(
        &self,
        key: K,
        build: impl FnOnce() -> Result<KernelSource>,
    ) -> Result<Arc<CachedKernel>> {
        if let Some(k) =
            Self::map_of::<K>(&mut *self.cache.lock().map_err(|_| poisoned())?).get(&key)
        {
            return Ok(k.clone());
        }
        let kernel = Arc::new(self.compile(&build()?)?);
        Self::map_of(&mut *self.cache.lock().map_err(|_| poisoned())?).insert(key, kernel.clone());
        Ok(kernel)
    }

    /// The map of key type `K`, created on first use.
    fn map_of<K: KernelKey>(maps: &mut KernelMaps) -> &mut HashMap<K, Arc<CachedKernel>> {
        maps.entry(TypeId::of::<K>())
            .or_insert_with(|| Box::new(HashMap::<K, Arc<CachedKernel>>::new()))
            .downcast_mut()
            .expect("a map under its key type") // ok: each map is stored under its own key type's TypeId
    }

    /// Create the kernel's shader module, layouts and pipeline inside validation, internal and
    /// out-of-memory error scopes: a shader the backend's compiler rejects (wgpu reports GL's
    /// GLSL compile and link errors as internal errors) is an [`Error::ShaderCompile`]. On GL the
    /// crate's lock is held, and the pipeline is run once (see [`Context::warm_up`]).
    fn compile(&self, src: &KernelSource) -> Result<CachedKernel> {
        let (label, source, entries) = (src.label.as_str(), src.wgsl.as_str(), &src.entries[..]);
        let _gl = self.gl_guard();
        self.check_alive()?;
        let scopes = Self::scopes_wanted().then(|| {
            let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
            let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
            let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
            [validation, internal, oom]
        });
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        };
        // SAFETY: every index a kernel computes is in bounds by construction: the host checks each
        // range against its buffer before binding exactly that range, and the kernels index only
        // below the element counts the host passes (`i < n`, `off + n <= bound elements`). Without
        // the per-access bounds checks wgpu would otherwise insert, loads and stores vectorize.
        let module = unsafe {
            self.device
                .create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
        };
        let layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(label),
                entries,
            });
        let pipeline_layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(label),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(src.entry_point),
                // Kernels that include math.wgsl learn whether fma is fused; others have no override.
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: if self.fused_fma && source.contains("override MATH_FUSED_FMA") {
                        &[("MATH_FUSED_FMA", 1.0)]
                    } else {
                        &[]
                    },
                    zero_initialize_workgroup_memory: true,
                },
                cache: None,
            });
        let popped = scopes.and_then(|scopes| {
            self.pop_scopes(scopes.map(|s| s.pop()), || {
                let (label, source_text) = (label.to_string(), source.to_string());
                Box::new(move |e| Error::ShaderCompile {
                    label,
                    message: e.to_string(),
                    source_text,
                })
            })
        });
        if let Some(e) = popped.and_then(|[v, i, o]| v.or(i).or(o)) {
            return Err(Error::ShaderCompile {
                label: label.to_string(),
                message: e.to_string(),
                source_text: source.to_string(),
            });
        }
        let kernel = CachedKernel { pipeline, layout };
        if self.gl {
            self.warm_up(label, &kernel, entries)?;
        }
        Ok(kernel)
    }

    /// Run a new pipeline once, one workgroup on small zeroed buffers (every kernel's parameters
    /// all zero: no elements, no rows, no channels, so it returns at once), and wait for it.
    ///
    /// For GL: Mesa's llvmpipe compiles a compute shader to machine code at its first dispatch,
    /// not when the pipeline is created, and holds wgpu's GL context meanwhile — seconds for the
    /// larger kernels. Done here, that happens under the crate's GL lock, once per pipeline, and
    /// never in a submission the caller makes (of a prepared op recorded into its own encoder).
    fn warm_up(
        &self,
        label: &str,
        kernel: &CachedKernel,
        entries: &[wgpu::BindGroupLayoutEntry],
    ) -> Result<()> {
        // Larger than every uniform block and than one element of every storage array.
        const BYTES: u64 = 1024;
        self.scoped(label, || {
            let buffers: Vec<wgpu::Buffer> = entries
                .iter()
                .map(|e| {
                    let usage = match e.ty {
                        wgpu::BindingType::Buffer {
                            ty: wgpu::BufferBindingType::Uniform,
                            ..
                        } => wgpu::BufferUsages::UNIFORM,
                        _ => wgpu::BufferUsages::STORAGE,
                    };
                    self.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("wgpu-activations warm-up"),
                        size: BYTES,
                        usage,
                        // Zeroed, as wgpu zeroes every buffer it creates.
                        mapped_at_creation: false,
                    })
                })
                .collect();
            let bind: Vec<wgpu::BindGroupEntry> = entries
                .iter()
                .zip(&buffers)
                .map(|(e, b)| wgpu::BindGroupEntry {
                    binding: e.binding,
                    resource: b.as_entire_binding(),
                })
                .collect();
            let group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("wgpu-activations warm-up"),
                layout: &kernel.layout,
                entries: &bind,
            });
            let mut encoder = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("wgpu-activations warm-up"),
                });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("wgpu-activations warm-up"),
                    timestamp_writes: None,
                });
                pass.set_pipeline(&kernel.pipeline);
                pass.set_bind_group(0, &group, &[]);
                pass.dispatch_workgroups(1, 1, 1);
            }
            self.submit_and_wait(encoder)
        })
    }

    /// Submit `encoder` and wait for the GPU to finish it.
    pub(crate) fn submit_and_wait(&self, encoder: wgpu::CommandEncoder) -> Result<()> {
        let index = self.queue.submit([encoder.finish()]);
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: None,
            })
            .map_err(|e| Error::DeviceLost(e.to_string()))?;
        self.check_alive()
    }

    /// Copy `len` elements of `T` (f32 or f16) starting at byte `offset` (a multiple of the
    /// element size) of `buffer`, which needs `COPY_SRC`, back to the host.
    ///
    /// ```no_run
    /// # use wgpu_activations::*;
    /// let ctx = Context::new()?;
    /// let buffer = ctx.upload(&[1.0f32, 2.0, 3.0])?;
    /// let tail: Vec<f32> = ctx.read(&buffer, 4, 2)?; // from byte 4
    /// assert_eq!(tail, [2.0, 3.0]);
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read<T: Element>(
        &self,
        buffer: &wgpu::Buffer,
        offset: u64,
        len: usize,
    ) -> Result<Vec<T>> {
        pollster::block_on(self.read_async(buffer, offset, len))
    }

    /// [`Context::read`] as a future that never blocks a thread: the copy's submission and the
    /// staging buffer's map are awaited.
    ///
    /// ```no_run
    /// # async fn demo() -> wgpu_activations::Result<()> {
    /// # use wgpu_activations::*;
    /// let ctx = Context::new_async().await?;
    /// let buffer = ctx.upload(&[1.0f32, 2.0, 3.0])?;
    /// let all: Vec<f32> = ctx.read_async(&buffer, 0, 3).await?;
    /// # Ok(()) }
    /// ```
    pub async fn read_async<T: Element>(
        &self,
        buffer: &wgpu::Buffer,
        offset: u64,
        len: usize,
    ) -> Result<Vec<T>> {
        check_range_of("buffer", buffer, offset, len, T::DTYPE)?;
        let size = T::DTYPE.size();
        // Copies move whole words: read from the word holding the first element.
        let start = offset / 4 * 4;
        let skip = (offset - start) as usize;
        let bytes = self
            .read_bytes(
                buffer,
                start,
                (skip as u64 + len as u64 * size).next_multiple_of(4),
            )
            .await?;
        Ok(bytemuck::pod_collect_to_vec(
            &bytes[skip..skip + len * size as usize],
        ))
    }

    /// `bytes` (a multiple of 4) from byte `offset` (a multiple of 4), range already checked.
    async fn read_bytes(&self, buffer: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        if !buffer.usage().contains(wgpu::BufferUsages::COPY_SRC) {
            return Err(Error::MissingUsage {
                what: "buffer",
                usage: "COPY_SRC",
            });
        }
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let (staging, mapped) = self
            .scoped_async("read", || {
                // A staging buffer, because storage buffers cannot be mapped on most adapters.
                let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("wgpu-activations readback"),
                    size: bytes,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                let staging = GlDrop::new(staging, self.gl);
                let mut encoder =
                    self.device
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some("wgpu-activations readback"),
                        });
                encoder.copy_buffer_to_buffer(buffer, offset, &staging, 0, bytes);
                let index = self.queue.submit([encoder.finish()]);
                // The map completes once the copy has (its callback runs inside a poll).
                let mapped = self.map_wait(staging.slice(..), wgpu::MapMode::Read, index)?;
                Ok((staging, mapped))
            })
            .await?;
        mapped.await?;
        self.check_alive()?;
        self.scoped("read", || {
            let out = {
                let view = staging
                    .slice(..)
                    .get_mapped_range()
                    .map_err(|e| Error::Map(e.to_string()))?;
                view.to_vec()
            }; // the view must be dropped before unmap
            staging.unmap();
            Ok(out)
        })
    }

    /// Create a storage buffer holding `data` (f32 or f16), padded to whole 4-byte words (usages
    /// STORAGE, COPY_SRC, COPY_DST).
    ///
    /// ```no_run
    /// # use wgpu_activations::*;
    /// use wgpu_activations::half::f16;
    /// let ctx = Context::new()?;
    /// let h = ctx.upload(&[f16::from_f32(0.5); 3])?; // three halves, padded to two words
    /// let t = Tensor::f16(&h, 0, 3);
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    pub fn upload<T: Element>(&self, data: &[T]) -> Result<wgpu::Buffer> {
        self.checked_bytes_of(data.len(), T::DTYPE)?;
        self.buffer_init_bytes("wgpu-activations tensor", bytemuck::cast_slice(data))
    }

    /// Create an uninitialised storage buffer for `len` elements of `T` (f32 or f16), padded to
    /// whole 4-byte words (usages STORAGE, COPY_SRC, COPY_DST).
    ///
    /// ```no_run
    /// # use wgpu_activations::*;
    /// let ctx = Context::new()?;
    /// let y = ctx.create_tensor::<f32>(1024)?;
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    pub fn create_tensor<T: Element>(&self, len: usize) -> Result<wgpu::Buffer> {
        self.create_tensor_of(len, T::DTYPE)
    }

    pub(crate) fn create_tensor_of(&self, len: usize, dtype: DType) -> Result<wgpu::Buffer> {
        let bytes = self.checked_bytes_of(len, dtype)?;
        self.scoped("create_tensor", || {
            Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("wgpu-activations tensor"),
                size: bytes.next_multiple_of(4).max(4),
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }))
        })
    }

    fn buffer_init_bytes(&self, label: &str, data: &[u8]) -> Result<wgpu::Buffer> {
        let bytes = data.len() as u64;
        let size = bytes.next_multiple_of(4).max(4);
        self.scoped(label, || {
            let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: true,
            });
            buffer
                .slice(..size)
                .get_mapped_range_mut()
                .map_err(|e| Error::Map(e.to_string()))?
                .slice(..bytes as usize)
                .copy_from_slice(data);
            buffer.unmap();
            Ok(buffer)
        })
    }

    pub(crate) fn checked_bytes_of(&self, len: usize, dtype: DType) -> Result<u64> {
        let bytes = len as u64 * dtype.size();
        let max = self.device.limits().max_buffer_size;
        if bytes.next_multiple_of(4) > max || len > u32::MAX as usize {
            return Err(Error::TooLarge {
                elements: len,
                bytes,
                max,
            });
        }
        Ok(bytes)
    }
}

fn poisoned() -> Error {
    Error::Wgpu {
        label: "pipeline cache".into(),
        message: "a thread panicked while holding the cache".into(),
    }
}
