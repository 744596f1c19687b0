//! Layer 5: the GPU kernel families. Each records into a caller's encoder (`record_*`) or builds
//! a reusable dispatch (`prepare_*`); none submits, polls or reads back.

pub(crate) mod elementwise;
pub(crate) mod glu;
pub(crate) mod prelu;
pub(crate) mod softmax;

/// Every kernel's WGSL, checked with naga alone (no GPU): each variant of each family parses and
/// validates, and each uniform block's generated WGSL has the Rust struct's layout.
#[cfg(test)]
mod tests {
    use crate::gpu::context::KernelSource;
    use crate::gpu::uniform::tests::check_layout;

    /// Parse and validate one kernel; the error names the kernel and carries naga's message.
    fn validate(src: &KernelSource) -> Result<(), String> {
        let module = naga::front::wgsl::parse_str(&src.wgsl)
            .map_err(|e| format!("{}: {}", src.label, e.emit_to_string(&src.wgsl)))?;
        let info = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .map_err(|e| format!("{}: {}", src.label, e.emit_to_string(&src.wgsl)))?;
        // The entry point the pipeline names exists, and is a compute shader.
        let found = module
            .entry_points
            .iter()
            .any(|ep| ep.name == src.entry_point && ep.stage == naga::ShaderStage::Compute);
        if !found {
            return Err(format!(
                "{}: no compute entry point `{}`",
                src.label, src.entry_point
            ));
        }
        // Every binding the entry point uses is in the bind-group layout (wgpu's check when it
        // creates the pipeline), with the right kind of buffer.
        let index = module
            .entry_points
            .iter()
            .position(|ep| ep.name == src.entry_point)
            .expect("found above"); // ok: a test
        let ep_info = info.get_entry_point(index);
        for (handle, var) in module.global_variables.iter() {
            let Some(binding) = &var.binding else {
                continue;
            };
            if ep_info[handle].is_empty() {
                continue;
            }
            let entry = src
                .entries
                .iter()
                .find(|e| e.binding == binding.binding && binding.group == 0);
            let ok = match (entry.map(|e| e.ty), var.space) {
                (
                    Some(wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        ..
                    }),
                    naga::AddressSpace::Uniform,
                ) => true,
                (
                    Some(wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only },
                        ..
                    }),
                    naga::AddressSpace::Storage { access },
                ) => read_only != access.contains(naga::StorageAccess::STORE),
                _ => false,
            };
            if !ok {
                return Err(format!(
                    "{}: binding {} (`{}`) does not match the bind-group layout",
                    src.label,
                    binding.binding,
                    var.name.as_deref().unwrap_or("?")
                ));
            }
        }
        Ok(())
    }

    /// Validate every kernel of one family; report each failure with its label.
    fn validate_all(
        family: &str,
        kernels: impl Iterator<Item = crate::Result<KernelSource>>,
        min: usize,
    ) {
        let mut count = 0;
        let mut failures = Vec::new();
        for k in kernels {
            count += 1;
            match k {
                Ok(src) => {
                    if let Err(e) = validate(&src) {
                        failures.push(e);
                    }
                }
                Err(e) => failures.push(e.to_string()),
            }
        }
        // Every failing kernel on a line of its own (label and naga's first line), then naga's
        // full report for the first few.
        let summary: Vec<&str> = failures.iter().filter_map(|f| f.lines().next()).collect();
        assert!(
            failures.is_empty(),
            "{} of {count} {family} kernels fail naga validation:\n{}\n\n{}",
            failures.len(),
            summary.join("\n"),
            failures[..failures.len().min(3)].join("\n\n")
        );
        assert!(count >= min, "only {count} {family} kernels");
    }

    /// Identifiers of `text` (maximal runs of ASCII letters, digits and `_` not starting with a
    /// digit), each with its byte offset.
    fn identifiers(text: &str) -> impl Iterator<Item = (usize, &str)> {
        let bytes = text.as_bytes();
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let mut i = 0;
        std::iter::from_fn(move || {
            while i < bytes.len() {
                if !word(bytes[i]) {
                    i += 1;
                    continue;
                }
                let start = i;
                while i < bytes.len() && word(bytes[i]) {
                    i += 1;
                }
                if !bytes[start].is_ascii_digit() {
                    return Some((start, &text[start..i]));
                }
            }
            None
        })
    }

    /// The first identifier of `text` that `reserved` rejects, with its line.
    fn reserved_name(text: &str, reserved: impl Fn(&str) -> bool) -> Option<String> {
        identifiers(text)
            .find(|(_, id)| reserved(id))
            .map(|(at, id)| {
                let line = text[..at].lines().count().max(1);
                let shown = text.lines().nth(line - 1).unwrap_or("").trim();
                format!("`{id}` (line {line}: `{shown}`)")
            })
    }

    /// GLSL reserves every identifier that starts with `gl_` (only the built-ins, `gl_` and a
    /// capital, may be used) and every identifier containing `__`. Naga renames a WGSL name that
    /// starts with `gl_`, but not one that only becomes such a name: two WGSL locals `gl` turn
    /// into `gl` and `gl_1`, which Mesa's GLSL compiler rejects.
    fn glsl_reserved(id: &str) -> bool {
        let builtin = id
            .strip_prefix("gl_")
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()));
        (id.starts_with("gl_") && !builtin) || id.contains("__")
    }

    /// HLSL and Metal (C++) reserve identifiers with `__`.
    fn cpp_reserved(id: &str) -> bool {
        id.contains("__")
    }

    /// Translate one kernel as wgpu's backends would: the pipeline's overrides applied, then
    /// naga's GLSL (OpenGL ES 3.1, `#version 310 es`, and desktop GLSL 4.50: wgpu's GL backend
    /// uses the context's version, capped at 4.50, which Mesa's llvmpipe reaches), HLSL (shader
    /// model 6.0) and MSL (2.4) writers. Any writer's error, or an identifier the target language
    /// reserves, fails.
    fn translate(src: &KernelSource) -> Result<(), String> {
        use naga::back::{glsl, hlsl, msl, pipeline_constants::process_overrides};
        let fail = |what: &str, e: &dyn std::fmt::Display| format!("{}: {what}: {e}", src.label);
        let module = naga::front::wgsl::parse_str(&src.wgsl)
            .map_err(|e| format!("{}: {}", src.label, e.emit_to_string(&src.wgsl)))?;
        let info = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .map_err(|e| format!("{}: {}", src.label, e.emit_to_string(&src.wgsl)))?;
        // The constant the context passes on a device whose fma is fused (none without the
        // override); identifiers do not depend on its value.
        let constants: naga::back::PipelineConstants =
            if src.wgsl.contains("override MATH_FUSED_FMA") {
                [("MATH_FUSED_FMA".to_string(), 1.0)].into_iter().collect()
            } else {
                Default::default()
            };
        let stage = naga::ShaderStage::Compute;
        let (module, info) =
            process_overrides(&module, &info, Some((stage, src.entry_point)), &constants)
                .map_err(|e| fail("overrides", &e))?;

        for version in [
            glsl::Version::Embedded {
                version: 310,
                is_webgl: false,
            },
            glsl::Version::Desktop(450),
        ] {
            let what = format!("GLSL {version}");
            let options = glsl::Options {
                version,
                writer_flags: glsl::WriterFlags::empty(),
                zero_initialize_workgroup_memory: true,
                ..Default::default()
            };
            let pipeline = glsl::PipelineOptions {
                shader_stage: stage,
                entry_point: src.entry_point.to_string(),
                multiview: None,
            };
            let mut out = String::new();
            glsl::Writer::new(
                &mut out,
                &module,
                &info,
                &options,
                &pipeline,
                naga::proc::BoundsCheckPolicies::default(),
            )
            .and_then(|mut w| w.write())
            .map_err(|e| fail(&what, &e))?;
            if let Some(bad) = reserved_name(&out, glsl_reserved) {
                return Err(fail(&what, &format!("reserved name {bad}")));
            }
        }

        let options = hlsl::Options {
            shader_model: hlsl::ShaderModel::V6_0,
            ..Default::default()
        };
        let mut out = String::new();
        hlsl::Writer::new(&mut out, &options, &hlsl::PipelineOptions::default())
            .write(&module, &info, None)
            .map_err(|e| fail("HLSL", &e))?;
        if let Some(bad) = reserved_name(&out, cpp_reserved) {
            return Err(fail("HLSL", &format!("reserved name {bad}")));
        }

        let options = msl::Options {
            lang_version: (2, 4),
            ..Default::default()
        };
        let pipeline = msl::PipelineOptions {
            entry_point: Some((stage, src.entry_point.to_string())),
            ..Default::default()
        };
        let (out, _) =
            msl::write_string(&module, &info, &options, &pipeline).map_err(|e| fail("MSL", &e))?;
        if let Some(bad) = reserved_name(&out, cpp_reserved) {
            return Err(fail("MSL", &format!("reserved name {bad}")));
        }
        Ok(())
    }

    /// Every kernel of one family through naga's GLSL, HLSL and MSL writers; report each failure.
    fn translate_all(family: &str, kernels: impl Iterator<Item = crate::Result<KernelSource>>) {
        let mut count = 0;
        let mut failures = Vec::new();
        for k in kernels {
            count += 1;
            match k.map_err(|e| e.to_string()).and_then(|src| translate(&src)) {
                Ok(()) => {}
                Err(e) => failures.push(e),
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {count} {family} kernels fail to translate to GLSL/HLSL/MSL:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn naga_translates_every_elementwise_kernel() {
        translate_all("element-wise", super::elementwise::every_kernel());
    }

    #[test]
    fn naga_translates_every_softmax_kernel() {
        translate_all("softmax", super::softmax::every_kernel());
    }

    #[test]
    fn naga_translates_every_prelu_kernel() {
        translate_all("prelu slope-gradient", super::prelu::every_kernel());
    }

    #[test]
    fn naga_translates_every_glu_kernel() {
        translate_all("glu", super::glu::every_kernel());
    }

    /// The `bitcast<f32>(0x...u)` constants of `wgsl` whose bits are +-inf or NaN (exponent all
    /// ones): WGSL makes such a constant expression an error (Chrome's Tint refuses the shader),
    /// though naga accepts it, so they must go through `f32_from_bits` (math.wgsl).
    fn infinite_constants(wgsl: &str) -> Vec<String> {
        let mut found = Vec::new();
        for (at, _) in wgsl.match_indices("bitcast<f32>(0x") {
            let rest = &wgsl[at + "bitcast<f32>(0x".len()..];
            let hex: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
            let closed = rest[hex.len()..].starts_with("u)");
            if let (true, Ok(bits)) = (closed, u32::from_str_radix(&hex, 16)) {
                if bits & 0x7f80_0000 == 0x7f80_0000 {
                    found.push(format!("bitcast<f32>(0x{hex}u)"));
                }
            }
        }
        found
    }

    /// What of WebGPU's default limits (`wgpu::Limits::default()`) kernel `src` would pass: its
    /// entry point's workgroup size, its workgroup memory, and its storage and uniform buffers
    /// (all of the module's, an upper bound on the entry point's), one message per excess.
    fn beyond_default_limits(src: &KernelSource) -> Vec<String> {
        let limits = wgpu::Limits::default();
        let module = naga::front::wgsl::parse_str(&src.wgsl)
            .unwrap_or_else(|e| panic!("{}: {}", src.label, e.emit_to_string(&src.wgsl))); // ok: test
        let mut layouter = naga::proc::Layouter::default();
        layouter.update(module.to_ctx()).expect("layout"); // ok: test
        let mut excess = Vec::new();
        let mut check = |what: &str, have: u64, limit: u32| {
            if have > limit as u64 {
                excess.push(format!("{}: {what} {have} > {limit}", src.label));
            }
        };
        let ep = module
            .entry_points
            .iter()
            .find(|e| e.name == src.entry_point);
        let ep = ep.unwrap_or_else(|| panic!("{}: no entry point", src.label)); // ok: test
        let [x, y, z] = ep.workgroup_size.map(u64::from);
        check(
            "invocations per workgroup",
            x * y * z,
            limits.max_compute_invocations_per_workgroup,
        );
        check("workgroup size x", x, limits.max_compute_workgroup_size_x);
        check("workgroup size y", y, limits.max_compute_workgroup_size_y);
        check("workgroup size z", z, limits.max_compute_workgroup_size_z);
        let (mut shared, mut storage, mut uniform) = (0u64, 0u64, 0u64);
        for (_, g) in module.global_variables.iter() {
            match g.space {
                naga::AddressSpace::WorkGroup => shared += u64::from(layouter[g.ty].size),
                naga::AddressSpace::Storage { .. } => storage += 1,
                naga::AddressSpace::Uniform => uniform += 1,
                _ => {}
            }
            if let Some(b) = &g.binding {
                check(
                    "bind group index",
                    u64::from(b.group) + 1,
                    limits.max_bind_groups,
                );
            }
        }
        check(
            "bytes of workgroup memory",
            shared,
            limits.max_compute_workgroup_storage_size,
        );
        check(
            "storage buffers",
            storage,
            limits.max_storage_buffers_per_shader_stage,
        );
        check(
            "uniform buffers",
            uniform,
            limits.max_uniform_buffers_per_shader_stage,
        );
        excess
    }

    /// Every kernel variant fits WebGPU's default limits, so it runs on any WebGPU device without
    /// asking for more (the browser run in examples/web exercises only some of them).
    #[test]
    fn every_kernel_fits_webgpu_default_limits() {
        let big = KernelSource {
            label: "too big".into(),
            wgsl: "var<workgroup> w: array<f32, 8192>;
@group(0) @binding(0) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(512) fn main() { w[0] = 1.0; o[0] = w[0]; }"
                .into(),
            entries: Vec::new(),
            entry_point: "main",
        };
        assert_eq!(
            beyond_default_limits(&big).len(),
            3,
            "the check sees an excess"
        );
        let kernels = super::elementwise::every_kernel()
            .chain(super::softmax::every_kernel())
            .chain(super::prelu::every_kernel())
            .chain(super::glu::every_kernel());
        let mut count = 0;
        for k in kernels {
            let excess = beyond_default_limits(&k.expect("kernel builds")); // ok: test
            assert!(excess.is_empty(), "{excess:?}");
            count += 1;
        }
        assert!(count > 100, "only {count} kernels checked");
    }

    #[test]
    fn no_kernel_has_an_infinite_or_nan_constant() {
        assert_eq!(
            infinite_constants(
                "let a = bitcast<f32>(0x7fc00000u); let b = bitcast<f32>(0x7f7fffffu);"
            ),
            ["bitcast<f32>(0x7fc00000u)"]
        );
        let kernels = super::elementwise::every_kernel()
            .chain(super::softmax::every_kernel())
            .chain(super::prelu::every_kernel())
            .chain(super::glu::every_kernel());
        for k in kernels {
            let k = k.expect("kernel builds"); // ok: test
            let bad = infinite_constants(&k.wgsl);
            assert!(bad.is_empty(), "{}: {bad:?}", k.label);
        }
    }

    /// The probe kernel the context builds first, translated like the others.
    #[test]
    fn naga_translates_the_probe_kernel() {
        let src = KernelSource {
            label: "fma_probe".into(),
            wgsl: format!(
                "{}\n{}",
                crate::gpu::source::MATH,
                crate::gpu::source::PROBE
            ),
            entries: Vec::new(),
            entry_point: "main",
        };
        translate(&src).unwrap_or_else(|e| panic!("{e}")); // ok: unit test
    }

    /// The name check catches what Mesa rejects: a WGSL `gl` that naga suffixes into `gl_1`.
    #[test]
    fn glsl_name_check_catches_gl_prefix() {
        let wgsl = "@group(0) @binding(0) var<storage, read_write> o: array<f32>;
fn a(gl: f32) -> f32 { let gl2 = gl; return gl2; }
fn b(x: f32) -> f32 { let gl = x * 2.0; return gl; }
@compute @workgroup_size(1) fn main() { o[0] = a(o[0]) + b(o[1]); }";
        let src = KernelSource {
            label: "gl_prefix".into(),
            wgsl: wgsl.into(),
            entries: Vec::new(),
            entry_point: "main",
        };
        let e = translate(&src).expect_err("a `gl` twice must fail"); // ok: unit test
        assert!(e.contains("GLSL") && e.contains("`gl_1`"), "{e}");
        assert!(!glsl_reserved("gl_GlobalInvocationID") && glsl_reserved("gl_1"));
        assert!(glsl_reserved("a__b") && !glsl_reserved("a_b"));
    }

    #[test]
    fn naga_validates_every_elementwise_kernel() {
        validate_all("element-wise", super::elementwise::every_kernel(), 500);
    }

    /// Whether `e` is computed from uniform-buffer loads and constants alone (at least one load):
    /// the same value in every invocation of a dispatch.
    fn uniform_only(
        module: &naga::Module,
        f: &naga::Function,
        e: naga::Handle<naga::Expression>,
    ) -> Option<bool> {
        use naga::Expression as E;
        let sub = |x| uniform_only(module, f, x);
        let all = |xs: &[naga::Handle<naga::Expression>]| -> Option<bool> {
            let mut any = false;
            for &x in xs {
                any |= sub(x)?;
            }
            Some(any)
        };
        match f.expressions[e] {
            E::Literal(_) | E::Constant(_) | E::ZeroValue(_) | E::Override(_) => Some(false),
            E::GlobalVariable(g) => {
                (module.global_variables[g].space == naga::AddressSpace::Uniform).then_some(true)
            }
            E::Load { pointer } => sub(pointer),
            E::AccessIndex { base, .. } => sub(base),
            E::Access { base, index } => all(&[base, index]),
            E::Unary { expr, .. } | E::As { expr, .. } | E::Relational { argument: expr, .. } => {
                sub(expr)
            }
            E::Binary { left, right, .. } => all(&[left, right]),
            E::Select {
                condition,
                accept,
                reject,
            } => all(&[condition, accept, reject]),
            E::Splat { value, .. } => sub(value),
            E::Swizzle { vector, .. } => sub(vector),
            E::Compose { ref components, .. } => all(components),
            E::Math {
                arg,
                arg1,
                arg2,
                arg3,
                ..
            } => {
                let args: Vec<_> = [Some(arg), arg1, arg2, arg3]
                    .into_iter()
                    .flatten()
                    .collect();
                all(&args)
            }
            // Function arguments, locals, call results, builtins: per invocation, or unknown here.
            _ => None,
        }
    }

    /// The functions of `module` with an `if` (or `break if`) whose condition is uniform.
    fn uniform_branches(module: &naga::Module) -> Vec<String> {
        fn walk(module: &naga::Module, f: &naga::Function, block: &naga::Block, found: &mut bool) {
            for st in block.iter() {
                match st {
                    naga::Statement::If {
                        condition,
                        accept,
                        reject,
                    } => {
                        *found |= uniform_only(module, f, *condition) == Some(true);
                        walk(module, f, accept, found);
                        walk(module, f, reject, found);
                    }
                    naga::Statement::Block(b) => walk(module, f, b, found),
                    naga::Statement::Loop {
                        body,
                        continuing,
                        break_if,
                    } => {
                        if let Some(c) = break_if {
                            *found |= uniform_only(module, f, *c) == Some(true);
                        }
                        walk(module, f, body, found);
                        walk(module, f, continuing, found);
                    }
                    naga::Statement::Switch { cases, .. } => {
                        for c in cases {
                            walk(module, f, &c.body, found);
                        }
                    }
                    _ => {}
                }
            }
        }
        let functions = module
            .functions
            .iter()
            .map(|(_, f)| f)
            .chain(module.entry_points.iter().map(|ep| &ep.function));
        let mut names = Vec::new();
        for f in functions {
            let mut found = false;
            walk(module, f, &f.body, &mut found);
            if found {
                names.push(f.name.clone().unwrap_or_default());
            }
        }
        names
    }

    /// No element-wise kernel branches on a uniform value. lavapipe (Mesa's Vulkan on the CPU)
    /// inlines the uniforms that such a branch reads and, in some versions, compiles a fresh
    /// shader variant at every bind, never freed: prelu's `if (tpl.channels > 1u)` cost about 1 ms
    /// and 130 KB per call there. (The check sees uniforms read directly in a condition, not
    /// through function arguments.)
    #[test]
    fn no_elementwise_kernel_branches_on_a_uniform() {
        let mut bad = Vec::new();
        for k in super::elementwise::every_kernel() {
            let src = k.expect("builds"); // ok: a test
            let module = naga::front::wgsl::parse_str(&src.wgsl).expect("parses"); // ok: a test
            let names = uniform_branches(&module);
            if !names.is_empty() {
                bad.push(format!("{}: {}", src.label, names.join(", ")));
            }
        }
        assert!(
            bad.is_empty(),
            "{} element-wise kernels branch on a uniform:\n{}",
            bad.len(),
            bad[..bad.len().min(8)].join("\n")
        );
    }

    #[test]
    fn naga_validates_every_softmax_kernel() {
        validate_all("softmax", super::softmax::every_kernel(), 100);
    }

    #[test]
    fn naga_validates_every_prelu_kernel() {
        validate_all("prelu slope-gradient", super::prelu::every_kernel(), 2);
    }

    #[test]
    fn naga_validates_every_glu_kernel() {
        validate_all("glu", super::glu::every_kernel(), 40);
    }

    #[test]
    fn uniform_blocks_match_wgsl_layout() {
        check_layout::<super::elementwise::TplParams>();
        check_layout::<super::softmax::SmParams>();
        check_layout::<super::prelu::PreluParams>();
    }
}
