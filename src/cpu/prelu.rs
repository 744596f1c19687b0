//! prelu's slope gradient on the CPU.

use crate::base::error::{Error, Result};
use crate::ops::activation::Activation;

/// prelu's gradient with respect to its slopes, `Σ_{x ≤ 0 in channel c} x·dy`, one value per
/// slope: f64 partial sums per rayon task.
pub fn prelu_slope_grad(act: &Activation, x: &[f32], dy: &[f32]) -> Result<Vec<f32>> {
    use rayon::prelude::*;
    let (c, inner) = act.prelu_layout(x.len())?;
    if dy.len() != x.len() {
        return Err(Error::LengthMismatch {
            what: "dy",
            got: dy.len(),
            expected: x.len(),
        });
    }
    let block = c * inner;
    let blocks_per_task = (1usize << 16).div_ceil(block).max(1);
    let sums = x
        .par_chunks(block * blocks_per_task)
        .zip(dy.par_chunks(block * blocks_per_task))
        .map(|(xs, ds)| {
            let mut acc = vec![0f64; c];
            for (k, (&xv, &dv)) in xs.iter().zip(ds).enumerate() {
                if xv <= 0.0 {
                    acc[(k / inner) % c] += xv as f64 * dv as f64;
                }
            }
            acc
        })
        .reduce(
            || vec![0f64; c],
            |a, b| a.iter().zip(&b).map(|(p, q)| p + q).collect(),
        );
    Ok(sums.into_iter().map(|v| v as f32).collect())
}
