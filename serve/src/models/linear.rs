//! The built-in model ([`Linear`]): linear or logistic over the layout's
//! columns, its weights and bias from `.npy` files; and its configuration
//! ([`LinearConfig`], `kind = "linear"` or `"logistic"`).

use std::path::{Path, PathBuf};

use bprwire::features::{Array, Buffers, FeatureLayout, OutputType};
use bprwire::npy::NpyArray;
use bprwire::DataType;
use serde::Deserialize;

use super::{Model, ModelError, OutputSpec, Outputs};

/// `[model]` of `kind = "linear"` or `"logistic"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearConfig {
    /// Weights `[n_features, k]`, float32 or float64 (`.npy`).
    pub weights: PathBuf,
    /// Bias `[k]` (`.npy`).
    pub bias: PathBuf,
    /// The output's name (default `scores`).
    #[serde(default = "default_output")]
    pub output: String,
    /// The output's element type (default `float32`).
    #[serde(default)]
    pub dtype: Dtype,
}

/// An output's element type.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// `float32`.
    #[default]
    Float32,
    /// `float64`.
    Float64,
}

fn default_output() -> String {
    "scores".into()
}

impl LinearConfig {
    /// Paths made relative to `dir` (the configuration file's folder).
    pub fn resolve(&mut self, dir: &Path) {
        self.weights = dir.join(&self.weights);
        self.bias = dir.join(&self.bias);
    }

    /// The model over `layout` (`logistic`: a sigmoid on each sum).
    ///
    /// # Errors
    ///
    /// What is wrong with the files, naming them.
    pub fn load(&self, layout: &FeatureLayout, logistic: bool) -> Result<Linear, String> {
        let dtype = match self.dtype {
            Dtype::Float32 => OutputType::F32,
            Dtype::Float64 => OutputType::F64,
        };
        Linear::from_npy(layout, &self.weights, &self.bias, logistic, &self.output, dtype)
    }
}

/// The built-in model: linear, or logistic, over the layout's outputs.
///
/// Each row's features are its layout columns concatenated in layout
/// order: continuous, binary, discrete, then each tensor feature's
/// elements. Each becomes an `f64` exactly (`f32` widened, `i64` by Rust's
/// `as`, which rounds to nearest for |x| > 2^53), and NaN counts as 0.
/// Then, in `f64`, for each output column `j`:
///
/// `z_j = bias_j + ((s_0 + s_1) + (s_2 + s_3)) + ((s_4 + s_5) + (s_6 + s_7))`
///
/// where lane `s_l` (starting at 0) sums, in layout order and then by
/// position, the terms `x_i·w_ij` of the features at positions `p` of
/// their array with `p mod 8 = l`; each product rounded then added, no
/// fused multiply-add. A feature whose value is 0 or NaN adds nothing
/// (its term is 0: the weights are finite, checked when the model is
/// made). Eight lanes, so the additions run side by side (vectorized)
/// rather than one after the other; the order is fixed, so the result is
/// the same on every machine and every run.
///
/// `logistic`: `y_j = 1 / (1 + exp(-z_j))`; `linear`: `y_j = z_j`; then
/// rounded to the output type (`float32`: to nearest). A numpy test
/// recomputes it as `x @ w + b` in `float64` (a different summation order:
/// equal to within a few ulps of `f64`, so equal after rounding to
/// `float32` but at a tie).
#[derive(Debug)]
pub struct Linear {
    /// Transposed: `k × features`, each output's weights together.
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
    /// A message when `weights.len() != features × bias.len()`, `k` is 0,
    /// or a weight or bias is not finite (NaN or infinite: a 0 feature
    /// would then not add 0).
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
        if let Some(i) = weights.iter().chain(&bias).position(|w| !w.is_finite()) {
            let what = if i < weights.len() {
                format!("weight [{}, {}]", i / k, i % k)
            } else {
                format!("bias [{}]", i - weights.len())
            };
            return Err(format!("{what} is not finite"));
        }
        let weights = (0..k)
            .flat_map(|j| (0..features).map(move |i| (i, j)))
            .map(|(i, j)| weights[i * k + j])
            .collect();
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

    /// Each row's sums `z` (`rows × k`), as the type's documentation says:
    /// output by output (one output's lanes and weights stay in registers
    /// and cache; a row, re-read for each output, stays in cache too).
    fn sums(&self, inputs: &Buffers, rows: usize, z: &mut [f64]) {
        let k = self.bias.len();
        let capacity = inputs.capacity().max(1);
        let arrays: Vec<&Array> = [inputs.continuous(), inputs.binary(), inputs.discrete()]
            .into_iter()
            .flatten()
            .chain(inputs.tensors().map(|(_, a)| a))
            .collect();
        for (r, z) in z.chunks_exact_mut(k).take(rows).enumerate() {
            for (j, (z, w)) in z
                .iter_mut()
                .zip(self.weights.chunks_exact(self.features))
                .enumerate()
            {
                let mut lanes = [0.0f64; LANES];
                let mut first = 0; // the array's first feature
                for a in &arrays {
                    let width = a.len() / capacity;
                    let w = &w[first..first + width];
                    let cells = r * width..(r + 1) * width;
                    match a {
                        Array::F32(v) => add_lanes(&v[cells], w, &mut lanes, |x| f64::from(*x)),
                        Array::F64(v) => add_lanes(&v[cells], w, &mut lanes, |x| *x),
                        Array::I64(v) => add_lanes(&v[cells], w, &mut lanes, |x| *x as f64),
                        Array::U8(v) => add_lanes(&v[cells], w, &mut lanes, |x| f64::from(*x)),
                    }
                    first += width;
                }
                debug_assert_eq!(first, self.features);
                let [s0, s1, s2, s3, s4, s5, s6, s7] = lanes;
                *z = self.bias[j] + (((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)));
            }
        }
    }
}

/// The lanes of [`Linear`]'s sums.
const LANES: usize = 8;

/// `lanes[p mod 8] += x_p · w_p` over one row's cells of one array, by
/// position; a 0 or NaN cell is 0 (the weights are finite, so its term is
/// 0).
#[inline]
fn add_lanes<T>(cells: &[T], weights: &[f64], lanes: &mut [f64; LANES], to_f64: impl Fn(&T) -> f64) {
    // False for 0 and NaN alike: those are 0.
    let value = |x: &T| {
        let x = to_f64(x);
        if x.abs() > 0.0 {
            x
        } else {
            0.0
        }
    };
    let mut cells = cells.chunks_exact(LANES);
    let mut weights = weights.chunks_exact(LANES);
    for (x, w) in (&mut cells).zip(&mut weights) {
        for l in 0..LANES {
            lanes[l] += value(&x[l]) * w[l];
        }
    }
    for ((lane, x), w) in lanes.iter_mut().zip(cells.remainder()).zip(weights.remainder()) {
        *lane += value(x) * w;
    }
}

impl Model for Linear {
    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }

    fn run(&self, inputs: &Buffers, rows: usize) -> Result<Outputs, ModelError> {
        let k = self.bias.len();
        let dtype = self.outputs[0].dtype;
        let len = rows
            .checked_mul(k)
            .ok_or_else(|| ModelError(format!("{rows} rows × {k} outputs overflow")))?;
        let mut out = Array::try_zeros(dtype, len)
            .ok_or_else(|| ModelError(format!("cannot allocate {rows} × {k} outputs")))?;
        let mut z = Vec::new();
        z.try_reserve_exact(len)
            .map_err(|_| ModelError(format!("cannot allocate {rows} × {k} scores")))?;
        z.resize(len, 0.0);
        self.sums(inputs, rows, &mut z);
        if self.logistic {
            for z in z.iter_mut() {
                *z = 1.0 / (1.0 + (-*z).exp());
            }
        }
        match &mut out {
            Array::F32(o) => o.iter_mut().zip(&z).for_each(|(o, z)| *o = *z as f32),
            Array::F64(o) => o.copy_from_slice(&z),
            _ => return Err(ModelError(format!("output type {dtype:?} is not a float"))),
        }
        Ok(Outputs::Dense(vec![out]))
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

fn read_floats(path: &std::path::Path) -> Result<(Vec<f64>, Vec<usize>), String> {
    let bytes = read_npy(path)?;
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

/// An `.npy` file's bytes: a regular file of at most
/// [`NPY_BYTES`](crate::files::NPY_BYTES) whose length is what its own
/// header says, checked on the header before the data is read.
fn read_npy(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let shown = path.display();
    let (file, len) = crate::files::open_regular(path, crate::files::NPY_BYTES)?;
    let mut file = file.take(len);
    // The preamble and a header: numpy writes headers of a few hundred
    // bytes; 64 KiB holds any header `np.save` writes for a 2-D array.
    let mut bytes = Vec::with_capacity(len.min(64 << 10) as usize);
    (&mut file)
        .take(64 << 10)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    let whole = NpyArray::file_len(&bytes).map_err(|e| format!("{shown}: {e}"))?;
    if whole as u64 != len {
        return Err(format!(
            "{shown}: its header says a file of {whole} bytes, the file has {len}"
        ));
    }
    bytes.reserve_exact(whole - bytes.len());
    file.read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    Ok(bytes)
}
