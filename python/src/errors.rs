//! The package's exceptions: every error of the library is one of them.

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::PyErr;

create_exception!(
    bprwire,
    EncodeError,
    PyValueError,
    "Inputs that cannot be encoded (a response, a reply or a request): the \
     message names the key, tensor, element or dimension at fault. Nothing \
     is written to an output buffer when this is raised."
);
create_exception!(
    bprwire,
    DecodeError,
    PyValueError,
    "Bytes that are not a valid response, reply or request, or a request \
     that does not fit the layout's outputs: the message gives the byte \
     offset, the schema item and the record."
);
create_exception!(
    bprwire,
    LayoutError,
    PyValueError,
    "A feature layout description that is not valid: the message names the \
     key or value at fault (`binary.ids[1]: 2.5 is not an integer`)."
);

/// An [`EncodeError`] with `message`.
pub(crate) fn encode_error(message: impl Into<String>) -> PyErr {
    EncodeError::new_err(message.into())
}

/// An [`DecodeError`] with `message`.
pub(crate) fn decode_error(message: impl Into<String>) -> PyErr {
    DecodeError::new_err(message.into())
}

/// The library's encoding error as an [`EncodeError`] (its `Display`
/// names the key, tensor or dimension).
pub(crate) fn enc(e: bprwire::Error) -> PyErr {
    let message = e.to_string();
    // The library's hint names its Rust types; here the switch is `binary=True`.
    let rust_hint = "(TensorData::Binary, StringKind::Binary)";
    encode_error(message.replace(rust_hint, "(binary=True)"))
}

/// The library's decoding error as a [`DecodeError`] (its `Display` gives
/// the byte offset, the schema item and the record).
pub(crate) fn dec(e: bprwire::decode::DecodeError) -> PyErr {
    decode_error(e.to_string())
}
