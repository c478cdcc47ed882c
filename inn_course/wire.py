"""The judge's wire format: what its requests carry into the student's kernel and its answers carry out.

JSON, with tensors as ``{"tensor": dtype, "shape": [...], "data": base64}`` (raw little-endian
bytes of a declared dtype and shape). Nothing is unpickled, nothing is evaluated: a reply can only
be numbers, strings, lists, dicts and tensors, and ``decode`` checks every one of them (types,
dtypes, shapes against byte counts, sizes, depth) before the judge looks at it.

This module is also *sent* to the kernel (its source, with each request), where the same
``encode``/``decode`` read the judge's arguments and write the answer: so it imports nothing of
the course and keeps to numpy and torch.
"""

import base64

import numpy
import torch

DTYPES = {"float32": numpy.float32, "float64": numpy.float64, "int64": numpy.int64, "uint8": numpy.uint8,
          "bool": numpy.bool_}
MAX_DEPTH = 8  # nesting of lists and dicts
MAX_ITEMS = 100_000  # values in one message, all levels together
MAX_STRING = 10_000  # characters of one string
MAX_TENSOR_BYTES = 256 * 1024 ** 2  # one tensor, and all of a message's tensors together


class WireError(ValueError):
    """A message that is not in the wire format, or over its limits."""


def encode(value):
    """``value`` (None, bool, int, float, str, tensors, and lists, tuples and dicts of them) as JSON-ready data."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, torch.Tensor):
        array = value.detach().cpu().contiguous().numpy()
        name = str(array.dtype)
        if name not in DTYPES:
            raise WireError(f"a tensor of dtype {name} cannot be sent")
        return {"tensor": name, "shape": list(array.shape),
                "data": base64.b64encode(array.astype(array.dtype.newbyteorder("<")).tobytes()).decode("ascii")}
    if type(value) in (list, tuple):
        return [encode(item) for item in value]
    if type(value) is dict:
        return {"dict": {str(key): encode(item) for key, item in value.items()}}
    raise WireError(f"a value of type {type(value).__name__} cannot be sent")


def decode(data, _budget=None, _depth=0):
    """The value ``data`` (parsed JSON) stands for; WireError if anything is out of the format or its limits."""
    budget = _budget if _budget is not None else {"items": MAX_ITEMS, "bytes": MAX_TENSOR_BYTES}
    budget["items"] -= 1
    if budget["items"] < 0 or _depth > MAX_DEPTH:
        raise WireError("the message is too large or too deeply nested")
    if data is None or type(data) in (bool, int, float):
        return data
    if type(data) is str:
        if len(data) > MAX_STRING:
            raise WireError("a string in the message is too long")
        return data
    if type(data) is list:
        return [decode(item, budget, _depth + 1) for item in data]
    if type(data) is not dict:
        raise WireError(f"unexpected JSON value of type {type(data).__name__}")
    if set(data) == {"dict"} and type(data["dict"]) is dict:
        return {key: decode(item, budget, _depth + 1) for key, item in data["dict"].items()}
    if set(data) == {"tensor", "shape", "data"}:
        return _tensor(data, budget)
    raise WireError("a JSON object that is neither a dict nor a tensor")


def _tensor(data, budget):
    name, shape, text = data["tensor"], data["shape"], data["data"]
    if name not in DTYPES or type(shape) is not list or type(text) is not str or len(shape) > 8 \
            or not all(type(n) is int and 0 <= n <= 2 ** 31 for n in shape):
        raise WireError("a tensor with an unknown dtype or a malformed shape")
    dtype = numpy.dtype(DTYPES[name]).newbyteorder("<")
    count = 1
    for n in shape:
        count *= n
    size = count * dtype.itemsize
    budget["bytes"] -= size
    if budget["bytes"] < 0 or len(text) > 4 * (size + 2) // 3 + 4:
        raise WireError("the tensors of the message are too large")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise WireError("a tensor whose data is not base64") from None
    if len(raw) != size:
        raise WireError("a tensor whose data does not match its dtype and shape")
    array = numpy.frombuffer(raw, dtype=dtype).astype(DTYPES[name]).reshape(shape)
    return torch.from_numpy(array.copy())
