//! Feature `ndarray`: inputs as `ndarray` views, borrowed as they are.
//!
//! A view in standard (row-major, "C") layout is one contiguous slice and
//! is borrowed without a copy. Any other view (a transpose, a column
//! slice, a step, Fortran order) is **refused** with
//! [`Error::NotContiguous`], naming the input: bprwire writes rows straight
//! from one slice and does not gather strided elements. Call
//! `view.as_standard_layout()` to get a contiguous copy to pass instead.
//!
//! ```
//! use bprwire::{BatchPrediction, Tensor};
//! use ndarray::{array, Array2};
//!
//! let keys = array![1_i64, 2, 3];
//! let scores = Array2::<f32>::zeros((4, 3));          // batch 4 x 3 keys
//! let emb = Array2::<f32>::ones((4, 8));
//! let tensors = [Tensor::from_array(emb.view())];     // any dimension
//! let enc = BatchPrediction::new()
//!     .continuous_array(keys.view(), scores.view())?
//!     .dense_array(ndarray::aview1(&[100_i64]), &tensors)?
//!     .encoder()?;
//! assert_eq!(enc.batch_size(), 4);
//!
//! let t = emb.t();                                    // a transpose: strided
//! let bad = [Tensor::from_array(t)];
//! let err = BatchPrediction::new().dense(&[100], &bad).encoder().err().unwrap();
//! assert!(err.to_string().contains("not contiguous"));
//! # Ok::<(), bprwire::Error>(())
//! ```

use crate::encode::error::{Error, Input, KeyMap};
use crate::encode::input::{BatchPrediction, Tensor, TensorData, Values};
use ndarray::{ArrayView, ArrayView1, Dimension};

fn not_contiguous<A, D: Dimension>(input: Input, view: &ArrayView<'_, A, D>) -> Error {
    Error::NotContiguous {
        input,
        shape: view.shape().into(),
        strides: view.strides().into(),
    }
}

/// The view's elements as one row-major slice, or the refusal.
fn slice<'a, A, D: Dimension>(input: Input, view: &ArrayView<'a, A, D>) -> Result<&'a [A], Error> {
    view.to_slice().ok_or_else(|| not_contiguous(input, view))
}

impl<'a> Tensor<'a> {
    /// A tensor over an array view of any dimension (`ArrayView1`,
    /// `ArrayView2`, `ArrayViewD`...), its shape the view's; dim 0 is the
    /// batch. Elements are `f32`, `f64`, `i32`, `i64`, `u8`, `bool`,
    /// `&str` or `&[u8]`.
    ///
    /// A view that is not contiguous in row-major order makes a tensor the
    /// encoder refuses with [`Error::NotContiguous`] (naming its key and
    /// index), so this conversion itself cannot fail.
    pub fn from_array<A, D>(view: ArrayView<'a, A, D>) -> Self
    where
        A: 'a,
        D: Dimension,
        &'a [A]: Into<TensorData<'a>>,
    {
        match view.to_slice() {
            Some(elements) => Tensor::new(elements, view.shape()),
            None => {
                let empty: &'a [A] = &[];
                Tensor::strided(empty.into(), view.shape(), view.strides())
            }
        }
    }
}

impl<'a, A, D> From<ArrayView<'a, A, D>> for Tensor<'a>
where
    A: 'a,
    D: Dimension,
    &'a [A]: Into<TensorData<'a>>,
{
    fn from(view: ArrayView<'a, A, D>) -> Self {
        Tensor::from_array(view)
    }
}

impl<'a> BatchPrediction<'a> {
    /// Sets the continuous predictions from views: `keys` and `values`
    /// shaped `[batch]` (one key) or `[batch, keys.len()]`, `f32` or `f64`
    /// (`ArrayView1`, `ArrayView2` or `ArrayViewD`). The other checks run
    /// at [`encoder`](Self::encoder), as for slices.
    ///
    /// # Errors
    ///
    /// [`Error::NotContiguous`] for a view (of the keys or the values) that
    /// is not contiguous in row-major order.
    pub fn continuous_array<V, D>(
        self,
        keys: ArrayView1<'a, i64>,
        values: ArrayView<'a, V, D>,
    ) -> Result<Self, Error>
    where
        V: 'a,
        D: Dimension,
        &'a [V]: Into<Values<'a>>,
    {
        let keys = slice(Input::Keys(KeyMap::Continuous), &keys)?;
        let elements = slice(Input::Continuous, &values)?;
        Ok(self.continuous(keys, elements, values.shape()))
    }

    /// Sets the dense tensors, `tensors[j]` under `keys[j]`, with the keys
    /// as a view (the tensors from [`Tensor::from_array`]).
    ///
    /// # Errors
    ///
    /// [`Error::NotContiguous`] for keys that are not contiguous.
    pub fn dense_array(self, keys: ArrayView1<'a, i64>, tensors: &'a [Tensor<'a>]) -> Result<Self, Error> {
        let keys = slice(Input::Keys(KeyMap::Tensors), &keys)?;
        Ok(self.dense(keys, tensors))
    }
}
