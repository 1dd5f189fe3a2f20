//! Which of the layout's dense arrays feeds which model input, checked
//! once when a model is loaded, whatever its kind: every model input fed,
//! every array feeding one, each by an array of the input's element type
//! and width. A refusal names the input and the array.

use std::collections::BTreeMap;

use bprwire::features::{Array, Buffers, FeatureKind, FeatureLayout, OutputType};

/// One of the layout's arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The continuous features.
    Continuous,
    /// The binary features.
    Binary,
    /// The discrete features.
    Discrete,
    /// The dense tensor of this feature id.
    Tensor(i64),
}

impl Source {
    /// The array a configuration key names: `continuous`, `binary`,
    /// `discrete` or `tensor.<id>`.
    pub fn parse(key: &str) -> Option<Source> {
        match key {
            "continuous" => Some(Source::Continuous),
            "binary" => Some(Source::Binary),
            "discrete" => Some(Source::Discrete),
            _ => key.strip_prefix("tensor.")?.parse().ok().map(Source::Tensor),
        }
    }

    /// The array in a batch's buffers.
    pub fn array<'a>(&self, b: &'a Buffers) -> Option<&'a Array> {
        match *self {
            Source::Continuous => b.continuous(),
            Source::Binary => b.binary(),
            Source::Discrete => b.discrete(),
            Source::Tensor(id) => b.tensor(id),
        }
    }

    /// Its configuration key (`tensor.<id>` for a tensor).
    pub fn key(&self) -> String {
        match self {
            Source::Continuous => "continuous".into(),
            Source::Binary => "binary".into(),
            Source::Discrete => "discrete".into(),
            Source::Tensor(id) => format!("tensor.{id}"),
        }
    }

    /// The name bprwire's Python `FeatureLayout.scatter` gives the array
    /// (`tensor_<id>` for a tensor): a model's input of that name is fed by
    /// it when the configuration names no inputs.
    pub fn python_name(&self) -> String {
        match self {
            Source::Tensor(id) => format!("tensor_{id}"),
            other => other.key(),
        }
    }

    /// The array's element type and width (elements per row), when the
    /// layout fills it.
    fn shape(&self, layout: &FeatureLayout) -> Option<(OutputType, usize)> {
        let columns = |kind, n: usize| layout.output_type(kind).map(|t| (t, n)).filter(|_| n > 0);
        match *self {
            Source::Continuous => columns(FeatureKind::Continuous, layout.continuous_ids().len()),
            Source::Binary => columns(FeatureKind::Binary, layout.binary_ids().len()),
            Source::Discrete => columns(FeatureKind::Discrete, layout.discrete_ids().len()),
            Source::Tensor(id) => layout
                .tensors()
                .iter()
                .find(|t| t.id == id)
                .map(|t| (t.dtype, t.width)),
        }
    }

    /// The arrays the layout fills, in its order.
    fn all(layout: &FeatureLayout) -> Vec<Source> {
        let mut out: Vec<Source> = [Source::Continuous, Source::Binary, Source::Discrete]
            .into_iter()
            .filter(|s| s.shape(layout).is_some())
            .collect();
        out.extend(layout.tensors().iter().map(|t| Source::Tensor(t.id)));
        out
    }
}

/// A model input as the model describes it.
#[derive(Clone, Debug)]
pub struct Inlet {
    /// Its name.
    pub name: String,
    /// Its element type, when the server has arrays of it.
    pub dtype: Option<OutputType>,
    /// Its element type as the model names it (for errors).
    pub type_name: String,
    /// Its dimensions (negative: any size); `None` when its rank is unknown.
    pub shape: Option<Vec<i64>>,
}

/// A model input and the array that feeds it.
#[derive(Clone, Debug)]
pub struct Feed {
    /// The input's name.
    pub input: String,
    /// The array.
    pub source: Source,
    /// Elements per row.
    pub width: usize,
    /// The input's rank: 2 (`[rows, width]`), or 1 (`[rows]`, width 1).
    pub rank: usize,
}

impl Feed {
    /// The input's dimensions for a batch of `rows` rows.
    pub fn dims(&self, rows: usize) -> Vec<i64> {
        if self.rank == 2 {
            vec![rows as i64, self.width as i64]
        } else {
            vec![rows as i64]
        }
    }
}

/// The feeds of `inputs` (array key → input name; empty: each array feeds
/// the input named as bprwire's Python scatter names it), checked against
/// the model's `inlets` and the `layout`. `key` names the configuration
/// key in errors (`model.inputs`).
///
/// # Errors
///
/// A message naming the array or input: a key that is no array, an array
/// the layout does not fill, an input the model does not have, or of
/// another type or shape, an input fed by no array, an array feeding no
/// input.
pub fn plan(
    inputs: &BTreeMap<String, String>,
    layout: &FeatureLayout,
    inlets: &[Inlet],
) -> Result<Vec<Feed>, String> {
    let pairs: Vec<(Source, &str, String)> = if inputs.is_empty() {
        Source::all(layout)
            .into_iter()
            .map(|s| (s, "", s.python_name()))
            .collect()
    } else {
        inputs
            .iter()
            .map(|(key, input)| {
                Source::parse(key).map(|s| (s, key.as_str(), input.clone())).ok_or_else(|| {
                    format!("model.inputs: {key:?} is not a layout array (continuous, binary, discrete or tensor.<id>)")
                })
            })
            .collect::<Result<_, _>>()?
    };
    let mut feeds: Vec<Feed> = Vec::new();
    for (source, key, input) in pairs {
        if let Some(other) = feeds.iter().find(|f| f.input == input || f.source == source) {
            return Err(if other.input == input {
                format!(
                    "model.inputs: model input {input:?} is fed twice (by the {} and {} arrays)",
                    other.source.key(),
                    source.key()
                )
            } else {
                format!("model.inputs: the {} array is named twice", source.key())
            });
        }
        let (dtype, width) = source
            .shape(layout)
            .ok_or_else(|| format!("model.inputs: the layout has no {key} array"))?;
        let inlet = inlets.iter().find(|i| i.name == input).ok_or_else(|| {
            let names: Vec<&str> = inlets.iter().map(|i| i.name.as_str()).collect();
            let by = if key.is_empty() {
                format!(" (the layout's {} array feeds the input of that name unless model.inputs says otherwise)", source.key())
            } else {
                String::new()
            };
            format!("model.inputs: the model has no input {input:?} (it has {names:?}){by}")
        })?;
        let array = source.key();
        if inlet.dtype != Some(dtype) {
            return Err(format!(
                "model input {input:?} is {}, the layout's {array} array is {dtype:?}",
                inlet.type_name
            ));
        }
        // Any number of rows (a negative first dimension), then the width.
        let rank = match inlet.shape.as_deref() {
            Some([r, w]) if *r < 0 && (*w < 0 || *w as usize == width) => 2,
            Some([r]) if *r < 0 && width == 1 => 1,
            other => {
                let shape = other.map_or_else(|| "unknown".to_string(), |s| format!("{s:?}"));
                return Err(format!(
                    "model input {input:?} has shape {shape}, the layout's {array} array is [rows, {width}] (rows: any number, -1)"
                ));
            }
        };
        feeds.push(Feed {
            input,
            source,
            width,
            rank,
        });
    }
    for i in inlets {
        if !feeds.iter().any(|f| f.input == i.name) {
            return Err(format!(
                "model input {:?} is fed by no layout array (model.inputs)",
                i.name
            ));
        }
    }
    for s in Source::all(layout) {
        if !feeds.iter().any(|f| f.source == s) {
            return Err(format!(
                "model.inputs: the layout's {} array feeds no model input",
                s.key()
            ));
        }
    }
    Ok(feeds)
}
