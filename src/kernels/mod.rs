//! Layer 5: the GPU kernel families. Each records into a caller's encoder (`record_*`) or builds
//! a reusable dispatch (`prepare_*`); none submits, polls or reads back.

pub(crate) mod elementwise;
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
            .expect("ok: found above");
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
            let src = k.expect("builds");
            let module = naga::front::wgsl::parse_str(&src.wgsl).expect("parses");
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
    fn uniform_blocks_match_wgsl_layout() {
        check_layout::<super::elementwise::TplParams>();
        check_layout::<super::softmax::SmParams>();
        check_layout::<super::prelu::PreluParams>();
    }
}
