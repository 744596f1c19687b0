//! The README's accuracy table (`wgpu-activations accuracy`): the presentation of the library's
//! measurements ([`wgpu_activations::harness::measure`]) as Markdown.

use wgpu_activations::harness::{OpAccuracy, Summary};
use wgpu_activations::{OpKind, Saved};

/// A worst error in ULPs, two decimals ("0" below 0.05), in bold with the count when values fell
/// out of bounds.
fn fmt_ulps(s: &Summary) -> String {
    let v = if s.max_ulps < 0.05 {
        "0".to_string()
    } else {
        format!("{:.2}", s.max_ulps)
    };
    if s.failures > 0 {
        format!("**{v} ({} out of bound)**", s.failures)
    } else {
        v
    }
}

/// The README's table of activations: formula, defaults, the tensor backward reads, the
/// derivative at each kink, and the measured worst error in ULPs (forward / derivative /
/// backward) on the GPU and on the CPU path.
pub(crate) fn markdown_table(rows: &[OpAccuracy]) -> String {
    let mut out = String::from(
        "| op | formula | parameters (default) | backward reads | derivative at kinks | max ULP GPU (fwd / der / bwd) | max ULP CPU (fwd / der / bwd) |\n|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let spec = r.op.spec();
        let params = if r.op == OpKind::Prelu {
            "slopes: 1 or C (0.25)".to_string()
        } else if spec.params.is_empty() {
            "—".to_string()
        } else {
            spec.params
                .iter()
                .map(|p| format!("{} ({})", p.name, p.default))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let three = |s: &[Summary; 3]| s.iter().map(fmt_ulps).collect::<Vec<_>>().join(" / ");
        out += &format!(
            "| `{}` | {} | {} | {} | {} | {} | {} |\n",
            r.op.name(),
            spec.formula.replace('|', "\\|"),
            params,
            match spec.saved {
                Saved::Input => "x",
                Saved::Output => "y",
            },
            spec.kinks,
            r.gpu.as_ref().map_or("not measured".to_string(), three),
            three(&r.cpu),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(max_ulps: f64, failures: usize) -> Summary {
        Summary {
            count: 10,
            max_ulps,
            failures,
        }
    }

    #[test]
    fn ulps_format() {
        assert_eq!(fmt_ulps(&summary(0.01, 0)), "0");
        assert_eq!(fmt_ulps(&summary(1.234, 0)), "1.23");
        assert_eq!(fmt_ulps(&summary(9.5, 2)), "**9.50 (2 out of bound)**");
    }

    #[test]
    fn one_row_per_op_with_escaped_formula() {
        let rows: Vec<OpAccuracy> = [OpKind::Relu, OpKind::Prelu]
            .into_iter()
            .map(|op| OpAccuracy {
                op,
                gpu: None,
                cpu: [summary(0.0, 0), summary(0.5, 0), summary(1.0, 0)],
            })
            .collect();
        let t = markdown_table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[2].starts_with("| `relu` |"), "{}", lines[2]);
        assert!(
            lines[2].ends_with("| not measured | 0 / 0.50 / 1.00 |"),
            "{}",
            lines[2]
        );
        assert!(lines[3].contains("slopes: 1 or C (0.25)"), "{}", lines[3]);
        // Every row has the header's seven cells (a formula's `|` is escaped).
        for l in &lines[2..] {
            assert_eq!(l.replace("\\|", "").matches('|').count(), 8, "{l}");
        }
    }
}
