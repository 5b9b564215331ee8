"""TFRecord files of ``tf.train.Example`` records, read (and written, for tests) without
TensorFlow.

AlgoPerf's ImageNet test split (ImageNet-v2) is stored by TensorFlow Datasets as TFRecord shards.
A TFRecord file is a sequence of records, each ``uint64 length``, ``uint32 masked CRC-32C of the
length``, ``length`` bytes of data, ``uint32 masked CRC-32C of the data`` (little-endian). The
data is a serialised ``tf.train.Example`` protocol buffer: ``features`` (field 1) is a map from
feature name to a ``Feature`` holding one of ``bytes_list`` (1), ``float_list`` (2) or
``int64_list`` (3), each a repeated ``value`` (field 1). :func:`record_spans` checks every length
header against its CRC (a cheap check that the framing is intact); the data CRCs are not checked
(it would mean hashing the whole file in Python).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

_MASK_DELTA = 0xA282EAD8


class TFRecordError(ValueError):
    """A TFRecord file or an Example in it is malformed."""


@cache
def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``."""
    table, crc = _crc_table(), 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The masked CRC-32C TFRecord stores: rotated right by 15 bits plus a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def record_spans(path: Path) -> list[tuple[int, int]]:
    """``(offset, length)`` of the data of every record of ``path``, from the headers alone."""
    spans = []
    size = path.stat().st_size
    with path.open("rb") as f:
        offset = 0
        while offset < size:
            header = f.read(12)
            if len(header) < 12:
                raise TFRecordError(f"{path}: truncated record header at byte {offset}")
            (length,) = struct.unpack("<Q", header[:8])
            if struct.unpack("<I", header[8:])[0] != masked_crc32c(header[:8]):
                raise TFRecordError(f"{path}: bad length checksum at byte {offset}")
            if offset + 16 + length > size:
                raise TFRecordError(f"{path}: record at byte {offset} runs past the end")
            spans.append((offset + 12, length))
            offset += 16 + length
            f.seek(offset)
    return spans


def read_span(path: Path, offset: int, length: int) -> bytes:
    """The data of one record (a span from :func:`record_spans`)."""
    with path.open("rb") as f:
        f.seek(offset)
        return f.read(length)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise TFRecordError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """``(field number, wire type, value)`` of a serialised message: varints as ints,
    length-delimited fields as bytes, fixed-width ones as raw bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value, pos = buf[pos : pos + width], pos + width
        else:
            raise TFRecordError(f"unsupported protobuf wire type {wire}")
        if pos > len(buf):
            raise TFRecordError("truncated protobuf field")
        yield number, wire, value


def _int64s(buf: bytes) -> list[int]:
    out = []
    for _, wire, value in _fields(buf):
        if wire == 2:  # packed
            pos = 0
            while pos < len(value):
                item, pos = _varint(value, pos)
                out.append(item)
        else:
            out.append(value)
    return [v - (1 << 64) if v >= 1 << 63 else v for v in out]


def _floats(buf: bytes) -> list[float]:
    raw = b"".join(value for _, _, value in _fields(buf))
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def _feature(buf: bytes) -> list[Any]:
    for number, _, value in _fields(buf):
        if number == 1:
            return [v for _, _, v in _fields(value)]
        if number == 2:
            return _floats(value)
        if number == 3:
            return _int64s(value)
    return []


def parse_example(data: bytes) -> dict[str, list[Any]]:
    """The features of a serialised ``tf.train.Example``: name -> list of values."""
    features: dict[str, list[Any]] = {}
    for number, _, message in _fields(data):
        if number != 1:
            continue
        for entry_number, _, entry in _fields(message):
            if entry_number != 1:
                continue
            parts = {n: v for n, _, v in _fields(entry)}
            features[bytes(parts.get(1, b"")).decode()] = _feature(parts.get(2, b""))
    return features


def _key(number: int, wire: int) -> bytes:
    return _encode_varint(number << 3 | wire)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _delimited(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _encode_varint(len(payload)) + payload


def encode_example(features: dict[str, bytes | int]) -> bytes:
    """A serialised ``tf.train.Example`` of one bytes or int64 value per feature."""
    entries = b""
    for name, value in features.items():
        if isinstance(value, bytes):
            feature = _delimited(1, _delimited(1, value))
        else:
            feature = _delimited(3, _delimited(1, _encode_varint(value)))
        entries += _delimited(1, _delimited(1, name.encode()) + _delimited(2, feature))
    return _delimited(1, entries)


def write_records(path: Path, records: Iterable[bytes]) -> None:
    """Write ``records`` as a TFRecord file."""
    with path.open("wb") as f:
        for data in records:
            length = struct.pack("<Q", len(data))
            f.write(length + struct.pack("<I", masked_crc32c(length)))
            f.write(data + struct.pack("<I", masked_crc32c(data)))
