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
