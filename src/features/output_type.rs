//! The element type of an output array ([`OutputType`]).

/// The element type of one output array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputType {
    /// `f32` (numpy `float32`).
    F32,
    /// `f64` (numpy `float64`).
    F64,
    /// `i64` (numpy `int64`).
    I64,
    /// `u8` (numpy `uint8`).
    U8,
}

impl OutputType {
    /// The numpy name: `float32`, `float64`, `int64`, `uint8`.
    pub fn numpy_name(self) -> &'static str {
        match self {
            OutputType::F32 => "float32",
            OutputType::F64 => "float64",
            OutputType::I64 => "int64",
            OutputType::U8 => "uint8",
        }
    }

    /// The type with numpy name `name` (as [`numpy_name`](Self::numpy_name)
    /// spells it), if it is one of the four.
    pub fn from_numpy_name(name: &str) -> Option<OutputType> {
        [OutputType::F32, OutputType::F64, OutputType::I64, OutputType::U8]
            .into_iter()
            .find(|t| t.numpy_name() == name)
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            OutputType::F32 => 4,
            OutputType::F64 | OutputType::I64 => 8,
            OutputType::U8 => 1,
        }
    }
}

impl core::fmt::Display for OutputType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.numpy_name())
    }
}
