//! The `DataType` enum of twml's `tensor.thrift`.

use core::fmt;

/// Element type of a tensor, with the values of twml's `DataType` enum
/// (an `i32` on the wire, in `RawTypedTensor.dataType`).
///
/// Only [`Float`](DataType::Float), [`Double`](DataType::Double),
/// [`Int32`](DataType::Int32), [`Int64`](DataType::Int64),
/// [`Uint8`](DataType::Uint8), [`Bool`](DataType::Bool) and (as strings)
/// [`String`](DataType::String) can be encoded, as in twml; the others exist
/// so that a dtype read from elsewhere can be named in an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum DataType {
    /// `f32`.
    Float = 0,
    /// `f64`.
    Double = 1,
    /// `i32`.
    Int32 = 2,
    /// `i64`.
    Int64 = 3,
    /// `u8`.
    Uint8 = 4,
    /// Strings (a `StringTensor` on the wire).
    String = 5,
    /// `i8`: in the schema, but twml does not write it.
    Byte = 6,
    /// `bool`, one byte per element.
    Bool = 7,
    /// Reserved by the schema.
    Reserved1 = 8,
    /// Reserved by the schema.
    Reserved2 = 9,
    /// Reserved by the schema.
    Reserved3 = 10,
}

impl DataType {
    /// The value written on the wire.
    #[inline]
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The `DataType` with this wire value, if the schema has one.
    pub const fn from_code(code: i32) -> Option<DataType> {
        Some(match code {
            0 => DataType::Float,
            1 => DataType::Double,
            2 => DataType::Int32,
            3 => DataType::Int64,
            4 => DataType::Uint8,
            5 => DataType::String,
            6 => DataType::Byte,
            7 => DataType::Bool,
            8 => DataType::Reserved1,
            9 => DataType::Reserved2,
            10 => DataType::Reserved3,
            _ => return None,
        })
    }

    /// Bytes per element for the fixed-size types bprwire encodes;
    /// `None` for strings and for the types twml refuses.
    #[inline]
    pub const fn fixed_size(self) -> Option<usize> {
        match self {
            DataType::Float | DataType::Int32 => Some(4),
            DataType::Double | DataType::Int64 => Some(8),
            DataType::Uint8 | DataType::Bool => Some(1),
            _ => None,
        }
    }

    /// The schema's name of the type (`FLOAT`, `INT64`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            DataType::Float => "FLOAT",
            DataType::Double => "DOUBLE",
            DataType::Int32 => "INT32",
            DataType::Int64 => "INT64",
            DataType::Uint8 => "UINT8",
            DataType::String => "STRING",
            DataType::Byte => "BYTE",
            DataType::Bool => "BOOL",
            DataType::Reserved1 => "RESERVED_1",
            DataType::Reserved2 => "RESERVED_2",
            DataType::Reserved3 => "RESERVED_3",
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
