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
//! Everything is checked by hand, so that a message can say where: text
//! that is not UTF-8 (with the byte offset), an unknown or repeated key, a
//! value of the wrong type, an id that is not written as an integer (`1.0`
//! and `1e3` are refused as "not an integer") or does not fit `int64`
//! (`9223372036854775808` is refused as out of range; `-0` is 0), a dtype
//! name that is not one of numpy's four, and then whatever the layout
//! builder refuses (an id given twice for one kind, `binary` as
//! `float64`, ...). Numbers are judged by their literal in the text, not
//! by the float or integer a JSON library makes of it.

use core::cell::Cell;
use core::fmt;
use std::collections::BTreeMap;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

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
    /// not UTF-8 (`not valid JSON: not UTF-8 at byte N`) or not JSON, an
    /// object with a repeated key, an unknown key, a value of the wrong
    /// type, an integer out of range, then whatever
    /// [`LayoutBuilder::build`] refuses.
    pub fn from_json(text: &[u8]) -> Result<FeatureLayout, JsonLayoutError> {
        parse(text).map_err(|message| JsonLayoutError { message })
    }
}

impl FeatureLayout {
    /// The layout as the JSON description [`from_json`](Self::from_json)
    /// reads back to the same layout (every id, type and default; a
    /// default that is not a finite number as `"nan"`, `"inf"` or
    /// `"-inf"`): what a server's configuration or a test writes out for
    /// a layout built in code.
    ///
    /// ```
    /// use bprwire::features::{FeatureLayout, OutputType};
    ///
    /// let layout = FeatureLayout::builder().continuous(&[1, 2], OutputType::F32, f64::NAN).build()?;
    /// let text = layout.to_json();
    /// assert_eq!(text, r#"{"continuous": {"ids": [1, 2], "dtype": "float32", "default": "nan"}}"#);
    /// assert_eq!(FeatureLayout::from_json(text.as_bytes())?.continuous_ids(), &[1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_json(&self) -> String {
        use super::FeatureKind;
        use core::fmt::Write;
        let ids = |ids: &[i64]| ids.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        let mut parts = Vec::new();
        if let Some(t) = self.output_type(FeatureKind::Continuous) {
            let d = self.continuous_default().unwrap_or(f64::NAN);
            let default = match d {
                d if d.is_nan() => "\"nan\"".to_string(),
                d if d == f64::INFINITY => "\"inf\"".to_string(),
                d if d == f64::NEG_INFINITY => "\"-inf\"".to_string(),
                // Debug is the shortest text that reads back to the same f64.
                d => format!("{d:?}"),
            };
            parts.push(format!(
                "\"continuous\": {{\"ids\": [{}], \"dtype\": \"{}\", \"default\": {default}}}",
                ids(self.continuous_ids()),
                t.numpy_name()
            ));
        }
        if let Some(t) = self.output_type(FeatureKind::Binary) {
            parts.push(format!(
                "\"binary\": {{\"ids\": [{}], \"dtype\": \"{}\"}}",
                ids(self.binary_ids()),
                t.numpy_name()
            ));
        }
        if self.output_type(FeatureKind::Discrete).is_some() {
            parts.push(format!(
                "\"discrete\": {{\"ids\": [{}], \"default\": {}}}",
                ids(self.discrete_ids()),
                self.discrete_default().unwrap_or(0)
            ));
        }
        if !self.tensors().is_empty() {
            let mut t = String::from("\"tensors\": [");
            for (i, f) in self.tensors().iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                let _ = write!(
                    t,
                    "{sep}{{\"id\": {}, \"width\": {}, \"dtype\": \"{}\"}}",
                    f.id,
                    f.width,
                    f.dtype.numpy_name()
                );
            }
            t.push(']');
            parts.push(t);
        }
        format!("{{{}}}", parts.join(", "))
    }
}

/// The layout that `text` describes, or what is wrong with it.
fn parse(text: &[u8]) -> Result<FeatureLayout, String> {
    let text = core::str::from_utf8(text).map_err(|e| {
        format!(
            "not valid JSON: not UTF-8 at byte {} (JSON text is UTF-8)",
            e.valid_up_to()
        )
    })?;
    let value = read_value(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let top = object(&value, "the top level")?;
    known_keys(
        top,
        "the top level",
        &["continuous", "binary", "discrete", "tensors"],
    )?;
    let mut builder = FeatureLayout::builder();
    if let Some(v) = get(top, "continuous") {
        let o = object(v, "continuous")?;
        known_keys(o, "continuous", &["ids", "dtype", "default"])?;
        let ids = ids(o, "continuous")?;
        let dtype = dtype(o, "continuous")?.unwrap_or(OutputType::F32);
        let default = match get(o, "default") {
            None => f64::NAN,
            Some(v) => float_default(v)?,
        };
        builder = builder.continuous(&ids, dtype, default);
    }
    if let Some(v) = get(top, "binary") {
        let o = object(v, "binary")?;
        known_keys(o, "binary", &["ids", "dtype"])?;
        let ids = ids(o, "binary")?;
        builder = builder.binary(&ids, dtype(o, "binary")?.unwrap_or(OutputType::F32));
    }
    if let Some(v) = get(top, "discrete") {
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
        let default = match get(o, "default") {
            None => 0,
            Some(v) => integer(v, "discrete.default")?,
        };
        builder = builder.discrete(&ids, default);
    }
    if let Some(v) = get(top, "tensors") {
        builder = tensors(builder, v)?;
    }
    builder.build().map_err(|e| e.to_string())
}

fn tensors(mut builder: LayoutBuilder, v: &Value<'_>) -> Result<LayoutBuilder, String> {
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

/// An object's members (no key twice).
type Object<'t> = BTreeMap<String, Value<'t>>;

fn object<'v, 't>(v: &'v Value<'t>, at: &str) -> Result<&'v Object<'t>, String> {
    match v {
        Value::Object(o) => Ok(o),
        _ => Err(format!("{at}: expected an object, found {}", type_name(v))),
    }
}

fn get<'v, 't>(o: &'v Object<'t>, key: &str) -> Option<&'v Value<'t>> {
    o.get(key)
}

fn known_keys(o: &Object<'_>, at: &str, known: &[&str]) -> Result<(), String> {
    match o.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(format!(
            "unknown key \"{}\" in {at} (the keys there are {})",
            k.escape_debug(),
            list(known)
        )),
    }
}

fn required<'v, 't>(o: &'v Object<'t>, at: &str, key: &str) -> Result<&'v Value<'t>, String> {
    get(o, key).ok_or_else(|| format!("{at}: \"{key}\" is missing"))
}

/// `ids` of a kind: an array of integers that fit `int64`.
fn ids(o: &Object<'_>, kind: &str) -> Result<Vec<i64>, String> {
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
fn dtype(o: &Object<'_>, at: &str) -> Result<Option<OutputType>, String> {
    let Some(v) = get(o, "dtype") else {
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

/// The JSON number `literal` as an integer, if it is written as one
/// (no fraction, no exponent): `Ok(None)` when it is not, `Err(())` when
/// it is but does not fit `T`. `-0` is the integer 0.
fn integer_literal<T: core::str::FromStr>(literal: &str) -> Result<Option<T>, ()> {
    if literal.contains(['.', 'e', 'E']) {
        return Ok(None);
    }
    // A JSON integer is `-?[0-9]+`, which Rust's integer parsing reads;
    // what it refuses then is out of range. `-0` is 0 for every type
    // (unsigned ones refuse the sign).
    let literal = match literal.strip_prefix('-') {
        Some(digits) if digits.bytes().all(|b| b == b'0') => digits,
        _ => literal,
    };
    literal.parse::<T>().map(Some).map_err(|_| ())
}

const NOT_AN_INTEGER: &str = "is not an integer (write integers without a fraction or an exponent)";

/// An integer that fits `int64`, written as one (no fraction, no exponent).
fn integer(v: &Value<'_>, at: &str) -> Result<i64, String> {
    let Value::Number(n) = v else {
        return Err(format!("{at}: expected an integer, found {}", type_name(v)));
    };
    match integer_literal::<i64>(n) {
        Ok(Some(x)) => Ok(x),
        Ok(None) => Err(format!("{at}: {n} {NOT_AN_INTEGER}")),
        Err(()) => Err(format!(
            "{at}: {n} does not fit in int64: it is out of range ({} to {})",
            i64::MIN,
            i64::MAX
        )),
    }
}

/// A tensor width: a non-negative integer that fits `usize`.
fn width(v: &Value<'_>, at: &str) -> Result<usize, String> {
    let Value::Number(n) = v else {
        return Err(format!(
            "{at}: expected a non-negative integer, found {}",
            type_name(v)
        ));
    };
    match integer_literal::<usize>(n) {
        Ok(Some(x)) => Ok(x),
        Ok(None) => Err(format!("{at}: {n} {NOT_AN_INTEGER}")),
        Err(()) if n.starts_with('-') => Err(format!("{at}: {n} is negative")),
        Err(()) => Err(format!(
            "{at}: {n} does not fit in usize: it is out of range (a width is at most {})",
            usize::MAX
        )),
    }
}

/// The continuous default: a number, or "nan", "inf", "-inf" (any case).
fn float_default(v: &Value<'_>) -> Result<f64, String> {
    let special = |s: &str| match s.to_ascii_lowercase().as_str() {
        "nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    };
    let found = match v {
        Value::Number(n) => {
            // Rust's float parsing reads every JSON number (correctly
            // rounded); serde_json has refused the ones beyond f64's range.
            return n
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("continuous.default: {n} is not a finite float64"));
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

fn type_name(v: &Value<'_>) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool => "a boolean",
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

/// A JSON value as the text has it: a number is its literal (`-0`,
/// `1.0`, `18446744073709551616`), so that the checks above can tell an
/// integer out of range from a fraction, which serde_json's own `Value`
/// cannot (it reads `-0` and every integer beyond 64 bits as a float).
/// An object with a repeated key is an error (`"ids"` given twice is a
/// mistake to report, not to resolve).
#[derive(Debug)]
enum Value<'t> {
    Null,
    Bool,
    Number(&'t str),
    String(String),
    Array(Vec<Value<'t>>),
    Object(BTreeMap<String, Value<'t>>),
}

/// Reads `text` (all of it) as one JSON value. serde_json does the
/// parsing and gives the syntax errors (with line and column); each number
/// it reads is then taken from the text, the next number literal after
/// the previous one ([`Literals`]), as serde_json reads values in text
/// order.
fn read_value(text: &str) -> Result<Value<'_>, serde_json::Error> {
    let literals = Literals {
        text,
        at: Cell::new(0),
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Seed(&literals).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// The number literals of a JSON text, one after the other.
struct Literals<'t> {
    text: &'t str,
    /// Where the search for the next literal starts (a byte offset).
    at: Cell<usize>,
}

impl<'t> Literals<'t> {
    /// The next number literal from `at` on, skipping strings (whose
    /// content may look like numbers) and `true`, `false`, `null` (which
    /// hold no digit or `-`). Everything before it is JSON that serde_json
    /// has read, so the scan needs no error handling of its own.
    fn next(&self) -> Option<&'t str> {
        let bytes = self.text.as_bytes();
        let mut i = self.at.get();
        while i < bytes.len() {
            match bytes[i] {
                b'"' => {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
                b'-' | b'0'..=b'9' => {
                    let start = i;
                    while i < bytes.len()
                        && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                    {
                        i += 1;
                    }
                    self.at.set(i);
                    return self.text.get(start..i);
                }
                _ => i += 1,
            }
        }
        self.at.set(i);
        None
    }

    fn number<E: de::Error>(&self) -> Result<Value<'t>, E> {
        self.next()
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not in the text"))
    }
}

/// Reads one [`Value`], numbers from [`Literals`].
struct Seed<'a, 't>(&'a Literals<'t>);

impl<'de, 't> DeserializeSeed<'de> for Seed<'_, 't> {
    type Value = Value<'t>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value<'t>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 't> Visitor<'de> for Seed<'_, 't> {
    type Value = Value<'t>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Value<'t>, E> {
        Ok(Value::Bool)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Value<'t>, E> {
        self.0.number()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Value<'t>, E> {
        self.0.number()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Value<'t>, E> {
        self.0.number()
    }

    fn visit_str<E>(self, v: &str) -> Result<Value<'t>, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value<'t>, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value<'t>, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value<'t>, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'t>, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(Seed(self.0))? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'t>, A::Error> {
        let mut o = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            if o.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "the key \"{}\" is repeated",
                    key.escape_debug()
                )));
            }
            let v = map.next_value_seed(Seed(self.0))?;
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

    /// Numbers are judged by how they are written: `-0` is the integer 0,
    /// an integer beyond the type's range is out of range (not "not an
    /// integer", which serde_json's own `Value` would have made of it, as
    /// it reads `-0` and integers past 64 bits as floats).
    #[test]
    fn integers_are_read_from_their_literal() {
        let l = parse(
            br#"{"binary": {"ids": [-0, 0.5e1, 3]}, "discrete": {"ids": [-0], "default": -0},
                 "tensors": [{"id": -0, "width": -0}]}"#,
        );
        let e = l.expect_err("0.5e1 is written as a float");
        assert!(e.contains("binary.ids[1]: 0.5e1 is not an integer"), "{e}");
        let l = parse(
            br#"{"binary": {"ids": [-0, 3]}, "discrete": {"ids": [-0], "default": -0},
                 "tensors": [{"id": -0, "width": -0}]}"#,
        )
        .unwrap();
        assert_eq!(l.binary_ids(), [0, 3]);
        assert_eq!(l.discrete_ids(), [0]);
        assert_eq!(l.discrete_default(), Some(0));
        assert_eq!((l.tensors()[0].id, l.tensors()[0].width), (0, 0));
        // Strings that look like numbers, and escaped quotes, do not shift
        // the numbers read after them.
        let l = parse(
            br#"{"continuous": {"dtype": "float64", "default": "-inf", "ids": [7, -8]},
                 "tensors": [{"dtype": "float32", "id": 12, "width": 3}]}"#,
        )
        .unwrap();
        assert_eq!(l.continuous_ids(), [7, -8]);
        assert_eq!(l.continuous_default(), Some(f64::NEG_INFINITY));
        assert_eq!((l.tensors()[0].id, l.tensors()[0].width), (12, 3));
        let e = err(r#"{"binary": {"ids": [1]}, "x\"1, 2\\": 5}"#);
        assert!(e.contains(r#"unknown key "x\"1, 2\\""#), "{e}");
        let l = parse(br#"{"continuous": {"ids": [1], "dtype": "float64", "default": -0.0}}"#).unwrap();
        assert_eq!(l.continuous_default().unwrap().to_bits(), (-0.0f64).to_bits());
        let l = parse(br#"{"continuous": {"ids": [1], "dtype": "float64", "default": 0.1}}"#).unwrap();
        assert_eq!(l.continuous_default(), Some(0.1));

        for (text, needle) in [
            (
                r#"{"binary": {"ids": [-9223372036854775809]}}"#,
                "binary.ids[0]: -9223372036854775809 does not fit in int64: it is out of range \
                 (-9223372036854775808 to 9223372036854775807)",
            ),
            (
                r#"{"binary": {"ids": [18446744073709551616]}}"#,
                "binary.ids[0]: 18446744073709551616 does not fit in int64: it is out of range",
            ),
            (
                r#"{"discrete": {"ids": [1], "default": 99999999999999999999999}}"#,
                "discrete.default: 99999999999999999999999 does not fit in int64: it is out of range",
            ),
            (
                r#"{"tensors": [{"id": 1, "width": 18446744073709551616}]}"#,
                "tensors[0].width: 18446744073709551616 does not fit in usize: it is out of range (a width is at most",
            ),
            (
                r#"{"tensors": [{"id": 1, "width": -18446744073709551616}]}"#,
                "tensors[0].width: -18446744073709551616 is negative",
            ),
            (
                r#"{"tensors": [{"id": 1, "width": 1e2}]}"#,
                "tensors[0].width: 1e2 is not an integer",
            ),
            (
                r#"{"tensors": [{"id": -0.0, "width": 1}]}"#,
                "tensors[0].id: -0.0 is not an integer",
            ),
            (
                r#"{"continuous": {"ids": [1], "default": 1e999}}"#,
                "not valid JSON: number out of range",
            ),
        ] {
            let e = err(text);
            assert!(e.contains(needle), "{text}: {e:?} lacks {needle:?}");
        }
    }

    /// Bytes that are not UTF-8 are refused as such, with the offset (the
    /// Python package passes bytes through as they are).
    #[test]
    fn text_that_is_not_utf8_is_refused_with_its_offset() {
        for (text, at) in [
            (&b"{\"\xff\":1}"[..], 2),
            (b"\xef\xbb", 0),
            (b"{\"binary\": {\"ids\": [1]}}\xc3", 24),
        ] {
            let e = FeatureLayout::from_json(text).unwrap_err().to_string();
            assert!(
                e.contains(&format!("not valid JSON: not UTF-8 at byte {at}")),
                "{text:?}: {e}"
            );
        }
        assert!(FeatureLayout::from_json("{\"binary\": {\"ids\": [1]}}".as_bytes()).is_ok());
        let e = err("{\"bin\u{e9}ry\": 1}");
        assert!(e.contains("unknown key \"bin\u{e9}ry\""), "{e}");
    }
}
