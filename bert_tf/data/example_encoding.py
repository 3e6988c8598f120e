"""`tf.train.Example` records written straight in the protobuf wire format, without building
proto objects: several times faster than `tf.train.Example(...).SerializeToString()` for the
many small records of pretraining data, and byte for byte what
`SerializeToString(deterministic=True)` gives (features in sorted name order; plain
`SerializeToString()` orders the map at random per process, so its bytes vary between runs).

The messages (tensorflow/core/example/{example,feature}.proto):

    Example  { Features features = 1; }
    Features { map<string, Feature> feature = 1; }   # each entry: {key = 1; value = 2}
    Feature  { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
                            Int64List int64_list = 3; } }
    Int64List / FloatList { repeated int64 / float value = 1 [packed = true]; }

A packed field is its tag, the byte length of its payload, then the values: int64 as varints,
float as 4 little-endian bytes each.
"""

import struct
from typing import Dict, Iterable

_LENGTH_DELIMITED = 2  # the wire type of messages, strings and packed fields


def varint(value: int) -> bytes:
    """The protobuf varint of `value` (int >= 0): 7 bits a byte, low bits first."""
    if value < 0:
        raise ValueError(f"{value}: only values >= 0 are encoded here")
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# The tags of length-delimited fields 1, 2 and 3 (field number << 3 | wire type).
_TAGS = {number: varint(number << 3 | _LENGTH_DELIMITED) for number in (1, 2, 3)}
_SMALL = [bytes((n,)) for n in range(128)]  # the varints of 0..127: one byte each


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    n = len(payload)
    return _TAGS[number] + (_SMALL[n] if n < 128 else varint(n)) + payload


def _packed(payload: bytes) -> bytes:
    """Field 1 of a list message; protobuf writes nothing for an empty packed field."""
    return _field(1, payload) if payload else b""


def int64_feature(packed_varints: bytes) -> bytes:
    """A serialized `Feature` holding an Int64List; `packed_varints` is the values' varints
    joined (see `varint`)."""
    return _field(3, _packed(packed_varints))


def float_feature(values: Iterable[float]) -> bytes:
    """A serialized `Feature` holding a FloatList of `values` (as float32)."""
    values = list(values)
    return _field(2, _packed(struct.pack(f"<{len(values)}f", *values)))


def example(features: Dict[str, bytes]) -> bytes:
    """A serialized `Example` of name -> serialized `Feature` (from `int64_feature` /
    `float_feature`), in sorted name order as deterministic serialization writes them."""
    entries = b"".join(_field(1, _field(1, name.encode("utf-8")) + _field(2, features[name]))
                       for name in sorted(features))
    return _field(1, entries)
