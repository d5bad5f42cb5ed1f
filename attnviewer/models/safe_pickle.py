"""Reading a torch checkpoint (a pickle) without running it: a restricted unpickler.

A pickle is a small program: it may name any global (`os.system`, `builtins.exec`) and call it
while loading. This unpickler resolves every name a pickle asks for against a fixed table and
refuses anything else before it is called, with one CheckpointError line naming it:

- tensors: the storage types (`torch.FloatStorage`, ...) and `torch._utils._rebuild_tensor_v2`
  and its relatives map to our own functions, which record where the numbers lie (LazyTensor);
  the bytes are read later, only for the tensors asked for, and checked against the storage;
- plain containers (dict, OrderedDict, defaultdict, list, tuple, set) and numbers and strings;
- a known list of module and optimizer classes (MODULE_CLASSES): each becomes an inert
  Placeholder holding the pickled attributes. The real classes are never imported, built or
  called (the tutorial's `models` module is not even looked for).

Both file layouts torch writes are read:
- zip (torch >= 1.6): `<name>/data.pkl` is the main pickle, storage `<key>` is the record
  `<name>/data/<key>` (raw little-endian bytes), `<name>/byteorder` says the byte order;
- legacy (`_use_new_zipfile_serialization=False`): four pickles in a row (the magic number, the
  protocol version 1001, a dict of system information, the main pickle), then a pickle of the
  sorted storage keys, then for each key its element count (int64) and its raw bytes.

`state_dict(placeholder)` flattens a tree of module placeholders into parameter names -> tensors,
as `nn.Module.state_dict()` names them.
"""
from __future__ import annotations

import collections
import io
import math
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CheckpointError, first_line

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch's legacy format starts with this number, pickled
LEGACY_PROTOCOL = 1001
PICKLE_MAX_BYTES = 64 * 1024**2  # the main pickle of a checkpoint holds names, not numbers

STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}

# (module, class) of everything a Show-Attend-Tell tutorial checkpoint holds. Any other class is refused.
MODULE_CLASSES = {
    ("models", "Encoder"), ("models", "DecoderWithAttention"), ("models", "Attention"),
    ("torchvision.models.resnet", "ResNet"), ("torchvision.models.resnet", "Bottleneck"),
    ("torch.nn.modules.conv", "Conv2d"), ("torch.nn.modules.batchnorm", "BatchNorm2d"),
    ("torch.nn.modules.activation", "ReLU"), ("torch.nn.modules.activation", "Sigmoid"),
    ("torch.nn.modules.activation", "Softmax"), ("torch.nn.modules.pooling", "MaxPool2d"),
    ("torch.nn.modules.pooling", "AdaptiveAvgPool2d"), ("torch.nn.modules.container", "Sequential"),
    ("torch.nn.modules.linear", "Linear"), ("torch.nn.modules.sparse", "Embedding"),
    ("torch.nn.modules.rnn", "LSTMCell"), ("torch.nn.modules.dropout", "Dropout"),
    ("torch.optim.adam", "Adam"),
}


class Placeholder:
    """A pickled object of an allowed class, never built: its class name and pickled attributes."""

    module = "?"
    name = "?"

    def __new__(cls, *args, **kwargs):  # NEWOBJ (and a REDUCE on the class) land here: inert
        self = object.__new__(cls)
        self.state = {}
        return self

    def __setstate__(self, state):  # BUILD: keep the attributes, run nothing
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            raise CheckpointError(f"{self.module}.{self.name} has a state that is not a dict")
        self.state = state

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"

    def __repr__(self) -> str:
        return f"<pickled {self.qualname}>"


_PLACEHOLDERS = {key: type(key[1], (Placeholder,), {"module": key[0], "name": key[1]}) for key in MODULE_CLASSES}


@dataclass(eq=False)
class StorageRef:
    """A storage the pickle refers to: its key, element type and element count."""
    key: str
    dtype: torch.dtype
    numel: int


@dataclass(eq=False)
class LazyTensor:
    """A tensor the pickle describes: a strided view into a storage, read on demand."""
    storage: StorageRef
    offset: int
    size: tuple
    stride: tuple

    @property
    def shape(self) -> tuple:
        return self.size


@dataclass
class _StorageType:
    name: str
    dtype: torch.dtype


def _ints(value, what: str) -> tuple:
    if not isinstance(value, (tuple, list)) or not all(type(v) is int and v >= 0 for v in value):
        raise CheckpointError(f"a tensor's {what} is not a list of non-negative integers")
    return tuple(value)


def _rebuild_tensor(storage, offset, size, stride, *ignored) -> LazyTensor:
    """torch._utils._rebuild_tensor(_v2): check the view lies inside its storage; read nothing."""
    if not isinstance(storage, StorageRef):
        raise CheckpointError("a tensor refers to something that is not a storage")
    if type(offset) is not int or offset < 0:
        raise CheckpointError("a tensor's storage offset is not a non-negative integer")
    size, stride = _ints(size, "size"), _ints(stride, "stride")
    if len(size) != len(stride) or len(size) > 8:
        raise CheckpointError("a tensor's size and stride do not match")
    if all(size):
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= storage.numel:
            raise CheckpointError(f"a tensor of size {list(size)} reaches past its storage of {storage.numel} elements")
    if math.prod(size) > storage.numel:  # a stride of 0 (an expanded view): reading it would allocate the lot
        raise CheckpointError(f"a tensor of size {list(size)} holds more elements than its storage of "
                              f"{storage.numel}; a saved weight never does")
    return LazyTensor(storage, offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, *ignored):
    """torch._utils._rebuild_parameter(_with_state): a parameter is its tensor here."""
    if not isinstance(data, LazyTensor):
        raise CheckpointError("a parameter holds something that is not a tensor")
    return data


def _nothing(*ignored) -> None:
    """What torch 0.4 modules pickled as their `_backend`: a call of a torch function, not needed."""
    return None


def _defaultdict(factory=None, *ignored):
    return {}  # the factory is never called: a plain dict holds the items


def _reconstructor(cls, base, state=None):
    """copyreg._reconstructor (pickle protocols 0 and 1): only for our placeholders."""
    if not (isinstance(cls, type) and issubclass(cls, Placeholder)):
        raise CheckpointError("the pickle rebuilds an object of a class that is not allowed")
    return cls()


_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): _defaultdict,
    ("builtins", "dict"): dict, ("builtins", "list"): list, ("builtins", "tuple"): tuple,
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset,
    ("builtins", "object"): object,  # the base that copyreg._reconstructor names
    ("copyreg", "_reconstructor"): _reconstructor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.nn.parameter", "Parameter"): _rebuild_parameter,  # torch 0.4: Parameter(tensor, requires_grad)
    ("torch.nn.backends.thnn", "_get_thnn_function_backend"): _nothing,  # torch 0.4 modules' _backend
    **_PLACEHOLDERS,
}
_OLD_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}  # names of protocol-2 pickles


class _Refused(Exception):
    """What the unpickler raises inside pickle's C code: the name of the global it refused."""


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves globals from the table above only; persistent ids become StorageRefs."""

    def __init__(self, file, storages: dict[str, StorageRef] | None = None):
        super().__init__(file)
        self.storages = {} if storages is None else storages

    def find_class(self, module: str, name: str):
        key = (_OLD_MODULES.get(module, module), name)
        if module == "torch" and name in STORAGE_DTYPES:  # a new one each time: a BUILD may alter it
            return _StorageType(name, STORAGE_DTYPES[name])
        if key not in _GLOBALS:
            raise _Refused(f"{key[0]}.{name}")
        return _GLOBALS[key]

    def persistent_load(self, pid):
        # legacy: a module class comes as ('module', class, source file, source): the class was
        # resolved (or refused) by find_class; its source text is ignored
        if isinstance(pid, tuple) and len(pid) == 4 and pid[0] == "module":
            if not (isinstance(pid[1], type) and issubclass(pid[1], Placeholder)):
                raise CheckpointError("the pickle names a module class that is not allowed")
            return pid[1]
        # zip: ('storage', type, key, location, numel); legacy adds view metadata (None)
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise CheckpointError("the pickle refers to an unknown kind of persistent object")
        _, kind, key, _location, numel = pid[:5]
        if len(pid) == 6 and pid[5] is not None:
            raise CheckpointError("the pickle uses storage views (torch < 0.4), which are not supported")
        if not isinstance(kind, _StorageType) or STORAGE_DTYPES.get(kind.name) != kind.dtype \
                or not isinstance(key, str) or type(numel) is not int or numel < 0:
            raise CheckpointError("the pickle refers to a storage it does not describe")
        ref = self.storages.get(key)
        if ref is None:
            ref = self.storages[key] = StorageRef(key, kind.dtype, numel)
        elif ref.dtype != kind.dtype or ref.numel != numel:
            raise CheckpointError(f"storage {key} is described twice, differently")
        return ref


def _unpickle(path: Path, stream, storages: dict) -> object:
    try:
        return RestrictedUnpickler(stream, storages).load()
    except _Refused as e:
        raise CheckpointError(f"{path}: refused: the pickle asks for {e}, which a checkpoint has no need of "
                              "(nothing was run)") from None
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    except RecursionError:
        raise CheckpointError(f"{path}: the pickle is nested too deeply") from None
    except Exception as e:  # truncated or damaged pickle data
        raise CheckpointError(f"{path}: damaged pickle ({first_line(e)})") from None


class Checkpoint:
    """An unpickled torch checkpoint: `root` (the pickled object with placeholders and lazy
    tensors) and `tensor(lazy)` to read one tensor's numbers."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.storages: dict[str, StorageRef] = {}
        self._data: dict[str, torch.Tensor] = {}
        try:
            with open(self.path, "rb") as f:
                head = f.read(4)
        except OSError as e:
            raise CheckpointError(f"{self.path}: cannot read ({e.strerror or type(e).__name__})") from None
        if head[:4] == b"PK\x03\x04":
            self._read_zip()
        elif head[:1] == b"\x80":
            self._read_legacy()
        else:
            raise CheckpointError(f"{self.path}: not a torch checkpoint (neither torch's zip nor its legacy format)")

    # -- the zip format -----------------------------------------------------------------------

    def _read_zip(self) -> None:
        try:
            self._zip = zipfile.ZipFile(self.path)
            names = self._zip.namelist()
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise CheckpointError(f"{self.path}: damaged or truncated checkpoint ({first_line(e)})") from None
        pickles = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise CheckpointError(f"{self.path}: not a torch checkpoint (no data.pkl in the archive)")
        self._prefix = pickles[0][: -len("data.pkl")]
        if self._prefix + "byteorder" in names and self._read_record(self._prefix + "byteorder", 16) != b"little":
            raise CheckpointError(f"{self.path}: written on a big-endian machine; only little-endian checkpoints are read")
        if self._zip.getinfo(pickles[0]).file_size > PICKLE_MAX_BYTES:
            raise CheckpointError(f"{self.path}: its pickle is larger than {PICKLE_MAX_BYTES // 1024**2} MB")
        self.root = _unpickle(self.path, io.BytesIO(self._read_record(pickles[0])), self.storages)

    def _read_record(self, name: str, limit: int | None = None) -> bytes:
        try:
            with self._zip.open(name) as f:
                return f.read(limit) if limit else f.read()
        except (zipfile.BadZipFile, OSError, EOFError, KeyError) as e:
            raise CheckpointError(f"{self.path}: damaged or truncated checkpoint ({first_line(e)})") from None

    def _zip_storage(self, ref: StorageRef) -> bytes:
        name = f"{self._prefix}data/{ref.key}"
        try:
            size = self._zip.getinfo(name).file_size
        except KeyError:
            raise CheckpointError(f"{self.path}: storage {ref.key} is missing from the archive") from None
        need = ref.numel * ref.dtype.itemsize
        if size != need:
            raise CheckpointError(f"{self.path}: storage {ref.key} holds {size} bytes, its tensors need {need}")
        info = self._zip.getinfo(name)  # torch stores its storages as they are: a compressed one may inflate
        if info.compress_type != zipfile.ZIP_STORED or need > self.path.stat().st_size:
            raise CheckpointError(f"{self.path}: storage {ref.key} declares {need:,} bytes that the file does not "
                                  "hold (compressed or larger than the file)")
        data = self._read_record(name)
        if len(data) != need:
            raise CheckpointError(f"{self.path}: storage {ref.key} is truncated")
        return data

    # -- the legacy format ---------------------------------------------------------------------

    def _read_legacy(self) -> None:
        size = self.path.stat().st_size
        with open(self.path, "rb") as f:
            magic = _unpickle(self.path, f, {})
            if magic != LEGACY_MAGIC:
                raise CheckpointError(f"{self.path}: a pickle, but not a torch checkpoint (no torch magic number)")
            if _unpickle(self.path, f, {}) != LEGACY_PROTOCOL:
                raise CheckpointError(f"{self.path}: unknown torch legacy protocol version")
            info = _unpickle(self.path, f, {})
            if not isinstance(info, dict) or info.get("little_endian") is not True:
                raise CheckpointError(f"{self.path}: written on a big-endian machine; only little-endian checkpoints are read")
            self.root = _unpickle(self.path, f, self.storages)
            keys = _unpickle(self.path, f, {})
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise CheckpointError(f"{self.path}: damaged checkpoint (no list of storages)")
            self._legacy_at = {}  # storage key -> where its bytes start
            for key in keys:
                head = f.read(8)
                if len(head) < 8:
                    raise CheckpointError(f"{self.path}: truncated checkpoint (storage {key} is cut off)")
                (numel,) = struct.unpack("<q", head)
                ref = self.storages.get(key)
                item = ref.dtype.itemsize if ref else 1
                if ref is not None and numel != ref.numel:
                    raise CheckpointError(f"{self.path}: storage {key} holds {numel} elements, its tensors say {ref.numel}")
                if numel < 0 or f.tell() + numel * item > size:
                    raise CheckpointError(f"{self.path}: truncated checkpoint (storage {key} is cut off)")
                self._legacy_at[key] = f.tell()
                f.seek(numel * item, io.SEEK_CUR)
        missing = sorted(set(self.storages) - set(self._legacy_at))
        if missing:
            raise CheckpointError(f"{self.path}: storage {missing[0]} is missing from the file")

    def _legacy_storage(self, ref: StorageRef) -> bytes:
        need = ref.numel * ref.dtype.itemsize
        with open(self.path, "rb") as f:
            f.seek(self._legacy_at[ref.key])
            data = f.read(need)
        if len(data) != need:
            raise CheckpointError(f"{self.path}: truncated checkpoint (storage {ref.key} is cut off)")
        return data

    # -- tensors ---------------------------------------------------------------------------------

    def tensor(self, lazy: LazyTensor) -> torch.Tensor:
        """The tensor's numbers, copied out of its storage (read once per storage)."""
        ref = lazy.storage
        flat = self._data.get(ref.key)
        if flat is None:
            raw = self._zip_storage(ref) if hasattr(self, "_zip") else self._legacy_storage(ref)
            flat = torch.frombuffer(bytearray(raw), dtype=ref.dtype) if raw else torch.empty(0, dtype=ref.dtype)
            self._data[ref.key] = flat
        if lazy.offset == 0 and math.prod(lazy.size) == ref.numel and lazy.stride == _contiguous(lazy.size):
            return flat.view(lazy.size)  # the whole storage, in order (a weight): no copy
        return torch.as_strided(flat, lazy.size, lazy.stride, lazy.offset).clone()

    def state_dict(self, module: "Placeholder", prefix: str = "") -> dict[str, torch.Tensor]:
        """Parameter and persistent buffer names -> tensors of a pickled module tree."""
        return {name: self.tensor(lazy) for name, lazy in lazy_state_dict(module, prefix).items()}


def lazy_state_dict(module: Placeholder, prefix: str = "") -> dict[str, LazyTensor]:
    """The names `nn.Module.state_dict()` would give, for a tree of placeholders (depth-first,
    without recursion), each with its lazy tensor."""
    out: dict[str, LazyTensor] = {}
    stack, seen = [(prefix, module)], set()
    while stack:
        at, node = stack.pop()
        if not isinstance(node, Placeholder):
            raise CheckpointError(f"{at.rstrip('.') or 'the model'} is not a module")
        if id(node) in seen:  # a module under itself (or twice): no model is built so
            raise CheckpointError(f"{at.rstrip('.')} appears twice in the module tree")
        seen.add(id(node))
        state = node.state
        skip = state.get("_non_persistent_buffers_set") or set()
        for table in ("_parameters", "_buffers"):
            entries = state.get(table) or {}
            if not isinstance(entries, dict):
                raise CheckpointError(f"{node.qualname} has damaged {table}")
            for name, value in entries.items():
                if value is None or (table == "_buffers" and name in skip):
                    continue
                if not isinstance(value, LazyTensor):
                    raise CheckpointError(f"{at}{name} is not a tensor")
                out[f"{at}{name}"] = value
        children = state.get("_modules") or {}
        if not isinstance(children, dict):
            raise CheckpointError(f"{node.qualname} has damaged submodules")
        stack.extend((f"{at}{name}.", child) for name, child in reversed(list(children.items())) if child is not None)
    return out


def _contiguous(size: tuple) -> tuple:
    strides, step = [], 1
    for n in reversed(size):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))
