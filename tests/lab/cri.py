"""A test-side client for the CRI RuntimeService, as kubelet and `crictl info` call it.

crictl is a release artifact that the lab's offline mirror may lack, but the question
`crictl info` answers (does containerd's CRI plugin serve on the socket kubelet will
use, and which runtime handlers has it loaded?) needs only two unary calls. Those are
made here over gRPC against the real containerd socket, with the few messages they need
encoded by hand (field numbers from k8s.io/cri-api pkg/apis/runtime/v1/api.proto), so
no generated stubs are vendored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import grpc

SERVICE = "/runtime.v1.RuntimeService"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def decode(data: bytes) -> dict[int, list]:
    """Protobuf wire format to {field number: [values]}: ints for varints, bytes for
    length-delimited fields (strings, nested messages, map entries)."""
    fields: dict[int, list] = {}
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            value, pos = data[pos:pos + size], pos + size
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} for field {number}")
        fields.setdefault(number, []).append(value)
    return fields


def _text(fields: dict[int, list], number: int) -> str:
    return fields.get(number, [b""])[0].decode()


@dataclass
class RuntimeStatus:
    conditions: dict[str, tuple[bool, str]]  # type -> (status, reason + message)
    handlers: list[str]  # runtime_handlers names; "" is the default handler
    info: dict[str, object] = field(default_factory=dict)  # verbose info, JSON-decoded


class CRIClient:
    """RuntimeService.Version and Status over a unix socket path."""

    def __init__(self, socket_path: str, timeout: float = 10.0):
        self.timeout = timeout
        self.channel = grpc.insecure_channel(f"unix://{socket_path}")

    def close(self) -> None:
        self.channel.close()

    def _call(self, method: str, request: bytes) -> dict[int, list]:
        call = self.channel.unary_unary(f"{SERVICE}/{method}")
        return decode(call(request, timeout=self.timeout))

    def version(self) -> dict[str, str]:
        # VersionRequest{version = 1}; VersionResponse{version, runtime_name,
        # runtime_version, runtime_api_version = 1..4}
        fields = self._call("Version", b"\x0a" + _varint(2) + b"v1")
        return {"version": _text(fields, 1), "runtime_name": _text(fields, 2),
                "runtime_version": _text(fields, 3), "runtime_api_version": _text(fields, 4)}

    def status(self) -> RuntimeStatus:
        # StatusRequest{verbose = 1}; StatusResponse{status = 1 (RuntimeStatus{repeated
        # RuntimeCondition conditions = 1}), map<string,string> info = 2,
        # repeated RuntimeHandler runtime_handlers = 3 (name = 1)}
        fields = self._call("Status", b"\x08\x01")
        conditions = {}
        for status in fields.get(1, []):
            for raw in decode(status).get(1, []):
                cond = decode(raw)
                conditions[_text(cond, 1)] = (bool(cond.get(2, [0])[0]),
                                              f"{_text(cond, 3)} {_text(cond, 4)}".strip())
        info = {}
        for raw in fields.get(2, []):
            entry = decode(raw)
            value = _text(entry, 2)
            try:
                info[_text(entry, 1)] = json.loads(value)
            except ValueError:
                info[_text(entry, 1)] = value
        handlers = [_text(decode(raw), 1) for raw in fields.get(3, [])]
        return RuntimeStatus(conditions=conditions, handlers=handlers, info=info)


def ask(socket_path: str) -> tuple[dict[str, str], RuntimeStatus]:
    """Version and Status, as `crictl info` asks them."""
    client = CRIClient(socket_path)
    try:
        return client.version(), client.status()
    finally:
        client.close()
