//! A [`FeatureLayout`] described as JSON (feature `json`): the layout file
//! of `bprwire scatter --layout`, and the dict that the Python package's
//! `FeatureLayout` takes. Every key is optional at the top level:
//!
//! ```json
//! {"continuous": {"ids": [1, 2, 3], "dtype": "float32", "default": "nan"},
//!  "binary":     {"ids": [10, 11], "dtype": "float32"},
//!  "discrete":   {"ids": [20], "default": 0},
//!  "tensors":    [{"id": 30, "width": 4, "dtype": "float32"}]}
//! ```
//!
//! Within a kind, `ids` is required (a kind without ids is a mistake more
//! often than an empty output; `"ids": []` says it on purpose), `dtype`
//! and `default` are not: `dtype` is `float32` for every kind but
//! `discrete` (always `int64`), the continuous default is NaN and the
//! discrete default 0. A tensor needs `id` and `width`; its `dtype` is
//! `float32` when left out.
//!
//! Everything is checked by hand, so that a message can say where: an
//! unknown or repeated key, a value of the wrong type, an id that is not
//! an integer or does not fit `int64` (`1.0`, `1e3` and
//! `9223372036854775808` are all refused), a dtype name that is not one
//! of numpy's four, and then whatever the layout builder refuses (an id
//! given twice for one kind, `binary` as `float64`, ...).

use core::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::{FeatureLayout, LayoutBuilder, OutputType};

/// What is wrong with a JSON layout description: the message says where
/// (`binary.ids[1]: 2.5 is not an integer`, `unknown key "tensor" in the
/// top level`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonLayoutError {
    message: String,
}

impl fmt::Display for JsonLayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for JsonLayoutError {}

impl FeatureLayout {
    /// The layout that the JSON `text` describes (see [`json`](super::json)
    /// for the format).
    ///
    /// # Errors
    ///
    /// [`JsonLayoutError`], naming the key or value at fault: text that is
    /// not JSON, an object with a repeated key, an unknown key, a value of
    /// the wrong type, then whatever [`LayoutBuilder::build`] refuses.
    pub fn from_json(text: &[u8]) -> Result<FeatureLayout, JsonLayoutError> {
        parse(text).map_err(|message| JsonLayoutError { message })
    }
}

/// The layout that `text` describes, or what is wrong with it.
fn parse(text: &[u8]) -> Result<FeatureLayout, String> {
    let Strict(value) = serde_json::from_slice(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let top = object(&value, "the top level")?;
    known_keys(
        top,
        "the top level",
        &["continuous", "binary", "discrete", "tensors"],
    )?;
    let mut builder = FeatureLayout::builder();
    if let Some(v) = top.get("continuous") {
        let o = object(v, "continuous")?;
        known_keys(o, "continuous", &["ids", "dtype", "default"])?;
        let ids = ids(o, "continuous")?;
        let dtype = dtype(o, "continuous")?.unwrap_or(OutputType::F32);
        let default = match o.get("default") {
            None => f64::NAN,
            Some(v) => float_default(v)?,
        };
        builder = builder.continuous(&ids, dtype, default);
    }
    if let Some(v) = top.get("binary") {
        let o = object(v, "binary")?;
        known_keys(o, "binary", &["ids", "dtype"])?;
        let ids = ids(o, "binary")?;
        builder = builder.binary(&ids, dtype(o, "binary")?.unwrap_or(OutputType::F32));
    }
    if let Some(v) = top.get("discrete") {
        let o = object(v, "discrete")?;
        known_keys(o, "discrete", &["ids", "dtype", "default"])?;
        let ids = ids(o, "discrete")?;
        match dtype(o, "discrete")? {
            None | Some(OutputType::I64) => {}
            Some(t) => {
                return Err(format!(
                    "discrete.dtype: discrete features are always int64, not {t}"
                ))
            }
        }
        let default = match o.get("default") {
            None => 0,
            Some(v) => integer(v, "discrete.default")?,
        };
        builder = builder.discrete(&ids, default);
    }
    if let Some(v) = top.get("tensors") {
        builder = tensors(builder, v)?;
    }
    builder.build().map_err(|e| e.to_string())
}

fn tensors(mut builder: LayoutBuilder, v: &Value) -> Result<LayoutBuilder, String> {
    let Value::Array(items) = v else {
        return Err(format!(
            "tensors: expected an array of objects like {{\"id\": 30, \"width\": 4}}, found {}",
            type_name(v)
        ));
    };
    for (i, item) in items.iter().enumerate() {
        let at = format!("tensors[{i}]");
        let o = object(item, &at)?;
        known_keys(o, &at, &["id", "width", "dtype"])?;
        let id = integer(required(o, &at, "id")?, &format!("{at}.id"))?;
        let width = width(required(o, &at, "width")?, &format!("{at}.width"))?;
        let dtype = dtype(o, &at)?.unwrap_or(OutputType::F32);
        builder = builder.tensor(id, width, dtype);
    }
    Ok(builder)
}

fn object<'v>(v: &'v Value, at: &str) -> Result<&'v Map<String, Value>, String> {
    match v {
        Value::Object(o) => Ok(o),
        _ => Err(format!("{at}: expected an object, found {}", type_name(v))),
    }
}

fn known_keys(o: &Map<String, Value>, at: &str, known: &[&str]) -> Result<(), String> {
    match o.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(format!(
            "unknown key \"{}\" in {at} (the keys there are {})",
            k.escape_debug(),
            list(known)
        )),
    }
}

fn required<'v>(o: &'v Map<String, Value>, at: &str, key: &str) -> Result<&'v Value, String> {
    o.get(key).ok_or_else(|| format!("{at}: \"{key}\" is missing"))
}

/// `ids` of a kind: an array of integers that fit `int64`.
fn ids(o: &Map<String, Value>, kind: &str) -> Result<Vec<i64>, String> {
    let v = required(o, kind, "ids")?;
    let Value::Array(items) = v else {
        return Err(format!(
            "{kind}.ids: expected an array of integers, found {}",
            type_name(v)
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, x)| integer(x, &format!("{kind}.ids[{i}]")))
        .collect()
}

/// An optional `dtype`: one of numpy's names that bprwire writes.
fn dtype(o: &Map<String, Value>, at: &str) -> Result<Option<OutputType>, String> {
    let Some(v) = o.get("dtype") else {
        return Ok(None);
    };
    let Value::String(name) = v else {
        return Err(format!(
            "{at}.dtype: expected a numpy dtype name (a string), found {}",
            type_name(v)
        ));
    };
    OutputType::from_numpy_name(name).map(Some).ok_or_else(|| {
        format!(
            "{at}.dtype: \"{}\" is not one of the numpy dtypes bprwire writes \
             (float32, float64, int64, uint8)",
            name.escape_debug()
        )
    })
}

/// An integer that fits `int64`, written as one (no fraction, no exponent).
fn integer(v: &Value, at: &str) -> Result<i64, String> {
    let Value::Number(n) = v else {
        return Err(format!("{at}: expected an integer, found {}", type_name(v)));
    };
    n.as_i64().ok_or_else(|| number_problem(n, at, "int64"))
}

/// A tensor width: a non-negative integer that fits `usize`.
fn width(v: &Value, at: &str) -> Result<usize, String> {
    let Value::Number(n) = v else {
        return Err(format!(
            "{at}: expected a non-negative integer, found {}",
            type_name(v)
        ));
    };
    if n.as_i64().is_some_and(|x| x < 0) {
        return Err(format!("{at}: {n} is negative"));
    }
    n.as_u64()
        .and_then(|x| usize::try_from(x).ok())
        .ok_or_else(|| number_problem(n, at, "usize"))
}

/// Why `n` is not an integer of type `ty`.
fn number_problem(n: &Number, at: &str, ty: &str) -> String {
    if n.is_f64() {
        format!("{at}: {n} is not an integer (write integers without a fraction or an exponent)")
    } else {
        format!("{at}: {n} does not fit in {ty}")
    }
}

/// The continuous default: a number, or "nan", "inf", "-inf" (any case).
fn float_default(v: &Value) -> Result<f64, String> {
    let special = |s: &str| match s.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    };
    let found = match v {
        Value::Number(n) => {
            return n
                .as_f64()
                .ok_or_else(|| format!("continuous.default: {n} is not a number"))
        }
        Value::String(s) => match special(s) {
            Some(x) => return Ok(x),
            None => format!("\"{}\"", s.escape_debug()),
        },
        _ => type_name(v).to_string(),
    };
    Err(format!(
        "continuous.default: expected a number or \"nan\", \"inf\", \"-inf\", found {found}"
    ))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `a, b or c`.
fn list(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A JSON value as `serde_json::Value` builds it, except that an object
/// with a repeated key is an error (`Value` keeps the last one silently,
/// and `"ids"` given twice is a mistake to report, not to resolve).
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut o = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if o.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "the key \"{}\" is repeated",
                    key.escape_debug()
                )));
            }
            let Strict(v) = map.next_value()?;
            o.insert(key, v);
        }
        Ok(Value::Object(o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureKind;

    fn err(text: &str) -> String {
        parse(text.as_bytes()).expect_err(text)
    }

    #[test]
    fn the_example_layout_and_the_defaults() {
        let l = parse(
            br#"{"continuous": {"ids": [1, 2, 3], "dtype": "float32", "default": "nan"},
                 "binary":     {"ids": [10, 11], "dtype": "float32"},
                 "discrete":   {"ids": [20], "default": 0},
                 "tensors":    [{"id": 30, "width": 4, "dtype": "float32"}]}"#,
        )
        .unwrap();
        assert_eq!(l.continuous_ids(), [1, 2, 3]);
        assert!(l.continuous_default().unwrap().is_nan());
        assert_eq!(l.binary_ids(), [10, 11]);
        assert_eq!(l.discrete_ids(), [20]);
        assert_eq!(l.tensors()[0].width, 4);

        let l = parse(
            br#"{"continuous": {"ids": [5]}, "binary": {"ids": []}, "tensors": [{"id": -1, "width": 0}]}"#,
        )
        .unwrap();
        assert_eq!(l.output_type(FeatureKind::Continuous), Some(OutputType::F32));
        assert!(l.continuous_default().unwrap().is_nan());
        assert_eq!(l.output_type(FeatureKind::Binary), Some(OutputType::F32));
        assert_eq!(l.tensors()[0].dtype, OutputType::F32);
        assert!(parse(b"{}").unwrap().tensors().is_empty());

        for (text, want) in [
            ("\"NaN\"", f64::NAN),
            ("\"-Inf\"", f64::NEG_INFINITY),
            ("\"inf\"", f64::INFINITY),
            ("-2.5", -2.5),
            ("7", 7.0),
        ] {
            let l = parse(
                format!(r#"{{"continuous": {{"ids": [1], "dtype": "float64", "default": {text}}}}}"#)
                    .as_bytes(),
            )
            .unwrap();
            assert_eq!(
                l.continuous_default().unwrap().to_bits(),
                want.to_bits(),
                "{text}"
            );
        }
        let l = parse(br#"{"discrete": {"ids": [1], "dtype": "int64", "default": -9223372036854775808}}"#)
            .unwrap();
        assert_eq!(l.discrete_default(), Some(i64::MIN));
    }

    #[test]
    fn every_mistake_says_where() {
        for (text, needle) in [
            ("[]", "the top level: expected an object, found an array"),
            (r#"{"tensor": []}"#, "unknown key \"tensor\" in the top level"),
            (
                r#"{"continuous": {"ids": [1], "defualt": 0}}"#,
                "unknown key \"defualt\" in continuous",
            ),
            (
                r#"{"tensors": [{"id": 1, "width": 2, "shape": [2]}]}"#,
                "unknown key \"shape\" in tensors[0]",
            ),
            (
                r#"{"binary": {"ids": [1], "ids": [2]}}"#,
                "the key \"ids\" is repeated at line 1",
            ),
            (r#"{"binary": {}}"#, "binary: \"ids\" is missing"),
            (
                r#"{"binary": {"ids": "1, 2"}}"#,
                "binary.ids: expected an array of integers, found a string",
            ),
            (
                r#"{"binary": {"ids": [1, 2.5]}}"#,
                "binary.ids[1]: 2.5 is not an integer",
            ),
            (
                r#"{"binary": {"ids": [1.0]}}"#,
                "binary.ids[0]: 1.0 is not an integer",
            ),
            (r#"{"binary": {"ids": [1e3]}}"#, "is not an integer"),
            (
                r#"{"binary": {"ids": [9223372036854775808]}}"#,
                "9223372036854775808 does not fit in int64",
            ),
            (
                r#"{"binary": {"ids": [null]}}"#,
                "binary.ids[0]: expected an integer, found null",
            ),
            (
                r#"{"binary": {"ids": [1], "dtype": "float64"}}"#,
                "binary features cannot be float64",
            ),
            (
                r#"{"binary": {"ids": [1], "dtype": "bool"}}"#,
                "binary.dtype: \"bool\" is not one of",
            ),
            (
                r#"{"binary": {"ids": [1], "dtype": 4}}"#,
                "binary.dtype: expected a numpy dtype name",
            ),
            (
                r#"{"continuous": {"ids": [1, 2, 1]}}"#,
                "continuous feature id 1 is given twice",
            ),
            (
                r#"{"continuous": {"ids": [1], "default": "none"}}"#,
                "continuous.default: expected a number or \"nan\"",
            ),
            (r#"{"continuous": {"ids": [1], "default": null}}"#, "found null"),
            (
                r#"{"continuous": {"ids": [1], "dtype": "int64"}}"#,
                "continuous features cannot be int64",
            ),
            (
                r#"{"discrete": {"ids": [1], "default": 0.5}}"#,
                "discrete.default: 0.5 is not an integer",
            ),
            (
                r#"{"discrete": {"ids": [1], "dtype": "float32"}}"#,
                "discrete features are always int64",
            ),
            (r#"{"tensors": {"id": 1}}"#, "tensors: expected an array"),
            (r#"{"tensors": [{"width": 1}]}"#, "tensors[0]: \"id\" is missing"),
            (r#"{"tensors": [{"id": 1}]}"#, "tensors[0]: \"width\" is missing"),
            (
                r#"{"tensors": [{"id": 1, "width": -1}]}"#,
                "tensors[0].width: -1 is negative",
            ),
            (
                r#"{"tensors": [{"id": 1, "width": 1.5}]}"#,
                "tensors[0].width: 1.5 is not an integer",
            ),
            (
                r#"{"tensors": [{"id": 1, "width": 1}, {"id": 1, "width": 2}]}"#,
                "tensor feature id 1 is given twice",
            ),
            (
                r#"{"tensors": [{"id": 1, "width": 1, "dtype": "uint8"}]}"#,
                "tensor features cannot be uint8",
            ),
            ("{\"binary\": {\"ids\": [1]}", "not valid JSON: EOF while parsing"),
            ("{} {}", "not valid JSON: trailing characters"),
            ("", "not valid JSON"),
        ] {
            let e = err(text);
            assert!(e.contains(needle), "{text}: {e:?} lacks {needle:?}");
        }
    }
}
