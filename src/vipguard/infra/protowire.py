"""The protobuf wire format, read and written field by field: enough to patch a model file in memory or read a
small metadata message without its generated classes (ONNX graphs, MediaPipe's binarypb files).

A message is a list of ``(field number, wire type, payload)``: the payload of a varint field is its encoded bytes
(:func:`varint` decodes them), of a length-delimited field its content, of a fixed field its 4 or 8 bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5

Field = tuple[int, int, bytes]


class WireError(ValueError):
    """The bytes are not a protobuf message (truncated, or a wire type this reader does not handle)."""


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it) of the varint at ``pos``."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def varint(payload: bytes) -> int:
    """The value of a varint field's payload."""
    return read_varint(payload, 0)[0]


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def fields(buf: bytes) -> list[Field]:
    """The fields of one message, in order."""
    out, pos = [], 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            end = read_varint(buf, pos)[1]
        elif wire == LENGTH:
            size, pos = read_varint(buf, pos)
            end = pos + size
        elif wire in (FIXED64, FIXED32):
            end = pos + (8 if wire == FIXED64 else 4)
        else:
            raise WireError(f"unsupported wire type {wire}")
        if end > len(buf):
            raise WireError("truncated field")
        out.append((number, wire, buf[pos:end]))
        pos = end
    return out


def encode(message: list[Field]) -> bytes:
    out = bytearray()
    for number, wire, payload in message:
        out += encode_varint(number << 3 | wire)
        if wire == LENGTH:
            out += encode_varint(len(payload))
        out += payload
    return bytes(out)


def edit(buf: bytes, number: int, change: Callable[[bytes], bytes | None]) -> bytes:
    """``buf`` with the content of each length-delimited field ``number`` replaced by ``change(content)`` (None
    drops the field)."""
    out = []
    for field in fields(buf):
        if field[0] == number and field[1] == LENGTH:
            content = change(field[2])
            if content is not None:
                out.append((number, LENGTH, content))
        else:
            out.append(field)
    return encode(out)


def floats(message: list[Field], number: int) -> list[float]:
    """A repeated float field (packed or not)."""
    out: list[float] = []
    for n, wire, payload in message:
        if n == number and wire == FIXED32:
            out.append(struct.unpack("<f", payload)[0])
        elif n == number and wire == LENGTH:
            out.extend(struct.unpack(f"<{len(payload) // 4}f", payload))
    return out


def first(message: list[Field], number: int) -> bytes | None:
    """The payload of field ``number``'s first occurrence, or None."""
    return next((payload for n, _, payload in message if n == number), None)
