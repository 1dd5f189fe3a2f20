"""Type stubs of bprwire's native module (``bprwire._bprwire``)."""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional, Union, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "RELEASE_GIL_FROM",
    "BatchPredictionTensorWriter",
    "BatchPredictionWriter",
    "DecodeError",
    "EncodeError",
    "FeatureLayout",
    "LayoutError",
    "Record",
    "Response",
    "decode",
    "decode_reply",
    "encode",
    "feature_id",
    "reply",
    "request_info",
    "_panics",
]

#: Bytes of output (or input, to decode) from which the GIL is released.
RELEASE_GIL_FROM: int

def _panics() -> int:
    """For tests: panics of the module's Rust code so far (each is a bug)."""

_ArrayLike = Union[npt.ArrayLike, np.ndarray]
_Keys = Union[Sequence[int], npt.NDArray[np.int64]]
_Buffer = Union[bytes, bytearray, memoryview, npt.NDArray[np.uint8]]
_WritableBuffer = Union[bytearray, memoryview, np.ndarray]

class EncodeError(ValueError):
    """Inputs that cannot be encoded; the message names the key, tensor,
    element or dimension at fault. Nothing is written to an output buffer."""

class DecodeError(ValueError):
    """Bytes that are not a valid response, reply or request, or a request
    that does not fit the layout's outputs; the message gives the byte
    offset, the schema item and the record."""

class LayoutError(ValueError):
    """A feature layout description that is not valid; the message names the
    key or value at fault."""

@final
class BatchPredictionWriter:
    """Continuous predictions: twml's ``BatchPredictionWriter`` layer.

    Built once with the keys; called with ``float32``/``float64`` values
    ``[batch, len(keys)]`` (or ``[batch]`` with one key), returns the
    serialized ``BatchPredictionResponse`` as ``uint8 [1, len]``.
    C-contiguous values are read in place, others copied once.
    """

    def __new__(cls, keys: _Keys) -> BatchPredictionWriter:
        """Raises ``EncodeError`` if a key is repeated."""
    @property
    def keys(self) -> list[int]:
        """The continuous keys, in column order."""
    def __call__(self, inputs: _ArrayLike) -> npt.NDArray[np.uint8]:
        """The response as twml's op returns it: ``uint8 [1, len]``."""
    def encode(self, inputs: _ArrayLike) -> bytes:
        """The response as ``bytes``."""
    def encode_into(self, inputs: _ArrayLike, out: _WritableBuffer) -> int:
        """Writes the response into the start of ``out``; returns its length."""
    def encoded_len(self, inputs: _ArrayLike) -> int:
        """The exact length of the response, in bytes."""
    def reply(self, inputs: _ArrayLike, *, seqid: int = 0, framed: bool = False) -> bytes:
        """A ``getBatchPrediction`` reply carrying the response."""
    def _bench_rust(self, inputs: _ArrayLike, n: int, out: Optional[_WritableBuffer] = None) -> float:
        """Mean ns of ``n`` encodes in Rust, into ``out`` if given (benchmarks only)."""

@final
class BatchPredictionTensorWriter:
    """Dense tensors: twml's ``BatchPredictionTensorWriter`` layer.

    Built once with the keys; called with a list of arrays, one per key,
    all with the same dim 0 (the batch): ``float32``, ``float64``,
    ``int32``, ``int64``, ``uint8``, ``bool``, or strings (numpy ``S``,
    ``U``, object arrays of ``str``/``bytes``). Returns ``uint8 [1, len]``.
    """

    def __new__(cls, keys: _Keys, *, typed: bool = False, binary: bool = False) -> BatchPredictionTensorWriter:
        """Raises ``EncodeError`` if a key is repeated or there is none."""
    @property
    def keys(self) -> list[int]:
        """The tensor keys, in order."""
    @property
    def typed(self) -> bool:
        """Typed big-endian lists instead of raw tensors."""
    @property
    def binary(self) -> bool:
        """Strings into a ``binaryTensor`` instead of a ``stringTensor``."""
    def __call__(self, inputs: Iterable[_ArrayLike]) -> npt.NDArray[np.uint8]:
        """The response as twml's op returns it: ``uint8 [1, len]``."""
    def encode(self, inputs: Iterable[_ArrayLike]) -> bytes:
        """The response as ``bytes``."""
    def encode_into(self, inputs: Iterable[_ArrayLike], out: _WritableBuffer) -> int:
        """Writes the response into the start of ``out``; returns its length."""
    def encoded_len(self, inputs: Iterable[_ArrayLike]) -> int:
        """The exact length of the response, in bytes."""
    def reply(self, inputs: Iterable[_ArrayLike], *, seqid: int = 0, framed: bool = False) -> bytes:
        """A ``getBatchPrediction`` reply carrying the response."""
    def _bench_rust(
        self, inputs: Iterable[_ArrayLike], n: int, out: Optional[_WritableBuffer] = None
    ) -> float:
        """Mean ns of ``n`` encodes in Rust, into ``out`` if given (benchmarks only)."""

@final
class Record:
    """One record of a ``Response``."""

    @property
    def index(self) -> int:
        """Its position in the response."""
    def continuous(self) -> dict[int, float]:
        """Its continuous predictions ``{key: value}``, in wire order."""
    def tensor(self, key: int) -> np.ndarray:
        """Its tensor ``key`` (row shape, the tensor's element type)."""
    def tensor_keys(self) -> list[int]:
        """Its tensor keys, in wire order."""

@final
class Response:
    """A decoded ``BatchPredictionResponse``: one record per batch row.

    Keeps the decoded bytes: a ``bytes`` object is referenced, any other
    buffer was copied once.
    """

    def __len__(self) -> int: ...
    def __getitem__(self, index: int, /) -> Record: ...
    @property
    def seqid(self) -> Optional[int]:
        """The reply's sequence id (``decode_reply``), or None."""
    @property
    def encoded_len(self) -> int:
        """Bytes decoded."""
    @property
    def skipped_fields(self) -> int:
        """Unknown fields skipped while decoding."""
    def continuous(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """``(keys [n], values [len(self), n])``, NaN where a record lacks a key."""
    def tensor(self, key: int) -> np.ndarray:
        """Tensor ``key`` of every record, stacked: ``[len(self), *shape]``."""
    def tensor_keys(self) -> list[int]:
        """The first record's tensor keys, in wire order."""

@final
class FeatureLayout:
    """Which feature ids go to which column of which dense array.

    Built from the CLI's layout description (a dict, or its JSON text).
    Outputs are named ``continuous``, ``binary``, ``discrete`` and
    ``tensor_<id>``.
    """

    def __new__(cls, description: Union[Mapping[str, Any], str, bytes]) -> FeatureLayout:
        """Raises ``LayoutError`` naming the key at fault."""
    @property
    def continuous_ids(self) -> list[int]: ...
    @property
    def binary_ids(self) -> list[int]: ...
    @property
    def discrete_ids(self) -> list[int]: ...
    @property
    def outputs(self) -> dict[str, tuple[int, str]]:
        """``{name: (columns, numpy dtype name)}``, in order."""
    @property
    def description(self) -> str:
        """The description as JSON text."""
    def scatter(
        self,
        request: _Buffer,
        *,
        out: Optional[Mapping[str, np.ndarray]] = None,
        max_rows: Optional[int] = None,
    ) -> dict[str, np.ndarray]:
        """A request's features as ``{name: array [rows, n]}`` (or into ``out``);
        a request of more than ``max_rows`` records raises ``DecodeError``."""
    def write_request(
        self,
        rows: Mapping[Union[str, int], _ArrayLike],
        common: Optional[Mapping[Union[str, int], _ArrayLike]] = None,
    ) -> bytes:
        """A ``BatchPredictionRequest`` from dense rows."""
    def _bench_rust(self, request: _Buffer, n: int) -> float:
        """Mean ns of ``n`` decode + scatter calls in Rust (benchmarks only)."""

def feature_id(name: Union[str, bytes]) -> int:
    """twml's feature id of a feature name (``bytes`` must be UTF-8)."""

def encode(
    continuous: Optional[tuple[_Keys, _ArrayLike]] = None,
    dense: Optional[Mapping[int, _ArrayLike]] = None,
    *,
    typed: bool = False,
    binary: bool = False,
) -> bytes:
    """One ``BatchPredictionResponse`` from arrays, as ``bytes``."""

def reply(
    continuous: Optional[tuple[_Keys, _ArrayLike]] = None,
    dense: Optional[Mapping[int, _ArrayLike]] = None,
    *,
    typed: bool = False,
    binary: bool = False,
    seqid: int = 0,
    framed: bool = False,
) -> bytes:
    """A ``getBatchPrediction`` reply around ``encode``'s response."""

def decode(data: _Buffer) -> Response:
    """Decodes a ``BatchPredictionResponse`` (``bytes`` read in place)."""

def decode_reply(data: _Buffer, *, framed: bool = False) -> Response:
    """Decodes a ``getBatchPrediction`` reply; raises on an exception reply."""

def request_info(data: _Buffer) -> tuple[int, bool]:
    """``(records, has_common_features)`` of a ``BatchPredictionRequest``."""
