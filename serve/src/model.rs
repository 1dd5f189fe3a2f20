//! Models: a batch of dense inputs in, named dense outputs out
//! ([`Model`]), and the built-in one ([`Linear`]).

use std::fmt;

use bprwire::features::{Array, Buffers, FeatureLayout, OutputType};
use bprwire::npy::NpyArray;
use bprwire::DataType;

/// What a model says about one of its outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    /// Its name (what `[response]` refers to).
    pub name: String,
    /// Elements per row.
    pub width: usize,
    /// `F32`, `F64` or `I64`.
    pub dtype: OutputType,
}

/// A model's failure on one batch: every request of the batch gets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelError(pub String);

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ModelError {}

/// A model the server runs: a batch of `rows` rows of the layout's dense
/// inputs (the first `rows` rows of every array of `inputs`) in, one array
/// per [`outputs`](Model::outputs) entry out, each `rows × width` elements
/// of its type, row-major. Called on the blocking pool, one batch at a
/// time per worker.
pub trait Model: Send + Sync + 'static {
    /// The outputs, in the order [`run`](Model::run) returns them.
    fn outputs(&self) -> &[OutputSpec];

    /// Runs one batch.
    ///
    /// # Errors
    ///
    /// [`ModelError`], which every request of the batch is answered with.
    fn run(&self, inputs: &Buffers, rows: usize) -> Result<Vec<Array>, ModelError>;
}

/// The built-in model: linear, or logistic, over the layout's outputs.
///
/// Each row's features are its layout columns concatenated in layout
/// order: continuous, binary, discrete, then each tensor feature's
/// elements. Each becomes an `f64` exactly (`f32` widened, `i64` by Rust's
/// `as`, which rounds to nearest for |x| > 2^53), and NaN counts as 0.
/// Then, in `f64`, for each output column `j`:
///
/// `z_j = bias_j + x_0·w_0j + x_1·w_1j + ...`, summed left to right over
/// the features whose value is not 0 (a 0 adds nothing: the term is
/// skipped, so with finite weights the sum is the full dot product), each
/// product rounded then added, no fused multiply-add;
///
/// `logistic`: `y_j = 1 / (1 + exp(-z_j))`; `linear`: `y_j = z_j`; then
/// rounded to the output type (`float32`: to nearest). A numpy test
/// recomputes it as `x @ w + b` in `float64` (a different summation order:
/// equal to within a few ulps of `f64`, so equal after rounding to
/// `float32` but at a tie).
#[derive(Debug)]
pub struct Linear {
    weights: Vec<f64>,
    bias: Vec<f64>,
    features: usize,
    logistic: bool,
    outputs: [OutputSpec; 1],
}

impl Linear {
    /// A model of `weights` (`features × k`, row-major) and `bias` (`k`).
    ///
    /// # Errors
    ///
    /// A message when `weights.len() != features × bias.len()` or `k` is 0.
    pub fn new(
        weights: Vec<f64>,
        bias: Vec<f64>,
        features: usize,
        logistic: bool,
        name: &str,
        dtype: OutputType,
    ) -> Result<Linear, String> {
        let k = bias.len();
        if k == 0 {
            return Err("the bias has no element: the model has no output".into());
        }
        if features.checked_mul(k) != Some(weights.len()) {
            return Err(format!(
                "weights have {} elements, the layout's {features} features × {k} outputs need {}",
                weights.len(),
                features.saturating_mul(k)
            ));
        }
        Ok(Linear {
            weights,
            bias,
            features,
            logistic,
            outputs: [OutputSpec {
                name: name.into(),
                width: k,
                dtype,
            }],
        })
    }

    /// Reads `weights` (`[n_features, k]`) and `bias` (`[k]`) from `.npy`
    /// files (`float32` or `float64`) for `layout`.
    ///
    /// # Errors
    ///
    /// A message naming the file: unreadable, not a float array, of the
    /// wrong shape for the layout.
    pub fn from_npy(
        layout: &FeatureLayout,
        weights: &std::path::Path,
        bias: &std::path::Path,
        logistic: bool,
        name: &str,
        dtype: OutputType,
    ) -> Result<Linear, String> {
        let features = feature_count(layout);
        let (w, w_shape) = read_floats(weights)?;
        let (b, b_shape) = read_floats(bias)?;
        if b_shape.len() != 1 {
            return Err(format!("{}: shape {b_shape:?}, expected [k]", bias.display()));
        }
        if w_shape != [features, b_shape[0]] {
            return Err(format!(
                "{}: shape {w_shape:?}, expected [{features}, {}] (the layout's features × the bias's outputs)",
                weights.display(),
                b_shape[0]
            ));
        }
        Linear::new(w, b, features, logistic, name, dtype)
    }

    /// One row's scores into `z` (`k` of them).
    fn row(&self, inputs: &Buffers, row: usize, z: &mut [f64]) {
        let k = self.bias.len();
        z.copy_from_slice(&self.bias);
        let mut i = 0;
        let mut add = |x: f64| {
            if x != 0.0 && !x.is_nan() {
                let w = &self.weights[i * k..(i + 1) * k];
                for (z, w) in z.iter_mut().zip(w) {
                    *z += x * w;
                }
            }
            i += 1;
        };
        let arrays = [inputs.continuous(), inputs.binary(), inputs.discrete()];
        for a in arrays
            .into_iter()
            .flatten()
            .chain(inputs.tensors().map(|(_, a)| a))
        {
            let width = a.len() / inputs.capacity().max(1);
            for_each_f64(a, row * width..(row + 1) * width, &mut add);
        }
        debug_assert_eq!(i, self.features);
        if self.logistic {
            for z in z.iter_mut() {
                *z = 1.0 / (1.0 + (-*z).exp());
            }
        }
    }
}

impl Model for Linear {
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }

    fn run(&self, inputs: &Buffers, rows: usize) -> Result<Vec<Array>, ModelError> {
        let k = self.bias.len();
        let dtype = self.outputs[0].dtype;
        let len = rows
            .checked_mul(k)
            .ok_or_else(|| ModelError(format!("{rows} rows × {k} outputs overflow")))?;
        let mut out = Array::try_zeros(dtype, len)
            .ok_or_else(|| ModelError(format!("cannot allocate {rows} × {k} outputs")))?;
        let mut z = vec![0.0; k];
        for r in 0..rows {
            self.row(inputs, r, &mut z);
            match &mut out {
                Array::F32(o) => o[r * k..(r + 1) * k]
                    .iter_mut()
                    .zip(&z)
                    .for_each(|(o, z)| *o = *z as f32),
                Array::F64(o) => o[r * k..(r + 1) * k].copy_from_slice(&z),
                _ => return Err(ModelError(format!("output type {dtype:?} is not a float"))),
            }
        }
        Ok(vec![out])
    }
}

/// The layout's features per row: its columns of every kind and its
/// tensors' widths.
pub fn feature_count(layout: &FeatureLayout) -> usize {
    layout.continuous_ids().len()
        + layout.binary_ids().len()
        + layout.discrete_ids().len()
        + layout.tensors().iter().map(|t| t.width).sum::<usize>()
}

fn for_each_f64(a: &Array, range: std::ops::Range<usize>, f: &mut impl FnMut(f64)) {
    match a {
        Array::F32(v) => v[range].iter().for_each(|x| f(f64::from(*x))),
        Array::F64(v) => v[range].iter().for_each(|x| f(*x)),
        Array::I64(v) => v[range].iter().for_each(|x| f(*x as f64)),
        Array::U8(v) => v[range].iter().for_each(|x| f(f64::from(*x))),
    }
}

fn read_floats(path: &std::path::Path) -> Result<(Vec<f64>, Vec<usize>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let npy = NpyArray::parse(bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let shape = npy.shape().to_vec();
    let values = match npy.fixed_le() {
        Some((DataType::Float, b)) => b
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes"))))
            .collect(),
        Some((DataType::Double, b)) => b
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
        _ => {
            return Err(format!(
                "{}: dtype {} is not float32 or float64",
                path.display(),
                npy.descr()
            ))
        }
    };
    Ok((values, shape))
}
