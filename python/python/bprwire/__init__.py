"""bprwire: numpy arrays in, the Thrift bytes of a twml ``BatchPredictionResponse`` out.

The Python face of the ``bprwire`` Rust crate, with twml's own interface:

- ``BatchPredictionWriter(keys)`` and ``BatchPredictionTensorWriter(keys)``,
  built once and called on each batch's arrays, return the serialized
  response as a ``uint8`` array ``[1, len]`` as twml's ops do; ``.encode``
  gives ``bytes``, ``.encode_into`` writes into a buffer you own,
  ``.reply`` wraps the response in a ``getBatchPrediction`` reply.
- ``encode(continuous=(keys, values), dense={key: array})`` and ``reply(...)``
  for one-off calls.
- ``decode(data)`` reads a response back (``Response``: ``len()``,
  ``continuous()``, ``tensor(key)``, ``response[i]``); ``decode_reply`` a reply.
- ``FeatureLayout(description)`` scatters ``BatchPredictionRequest`` bytes
  into dense arrays (``.scatter``) and writes requests from them
  (``.write_request``).
- ``feature_id(name)``: twml's feature id of a feature name.

Every error of the library raises ``EncodeError``, ``DecodeError`` or
``LayoutError``, all subclasses of ``ValueError``, with a message naming the
key, tensor, element or byte offset at fault.

C-contiguous input arrays in native byte order are read in place; others
are copied once. The GIL is released while encoding, decoding and
scattering when the output (or input) is 16 KiB or more
(``RELEASE_GIL_FROM``); smaller calls finish in about the time releasing
and re-taking the GIL would cost.
"""

from ._bprwire import *  # noqa: F401,F403  (the native module's __all__: every public name)
