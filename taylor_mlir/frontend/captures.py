"""
The state a function reads besides its inputs, read again at every call.

`torch.export` turns what a plain function closes over into constants of the
graph (`lifted_tensor_*`): a parameter of a module the function closes over
arrives as a detached alias of the parameter, a tensor as itself. Compiled as
constants, those would be frozen copies: no parameter gradient, and a
reassigned weight (`net[0].weight = nn.Parameter(new)`) never seen.

So before exporting, `find_captures(f)` walks what `f` can reach: its closure
cells, the globals its code names, default arguments, bound `self`,
`functools.partial` arguments, containers and plain objects, compiled programs
of this package (their `captured_state()`: the function they compile, runtime
coefficients), and every `nn.Module` found there with its parameters, buffers
and tensor attributes.
Each tensor gets a *reader* that fetches it again through the same path (the
cell, the global, the attribute), so the compiled program takes the current
value on every call. The graph's constants are matched to those tensors by
storage. A constant that requires grad (or aliases a live tensor that does)
but matches nothing reachable is refused: it cannot be followed by reference.

`ProgramState` holds the readers of all non-input arguments of an imported
program and checks, at each call, what would otherwise be silently wrong: a
module switched between train and eval mode, a parameter converted to another
dtype or shape.
"""

from __future__ import annotations

import functools
import gc
import inspect
import types
import warnings
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch

from taylor_mlir.errors import CallError, ExportError

Reader = Callable[[], object]
StorageKey = tuple[int, int, tuple[int, ...], tuple[int, ...], torch.dtype]
_MAX_DEPTH = 8  # of nested functions, objects and containers followed
_LIBRARIES = ("torch", "numpy", "taylor_mlir", "builtins", "functools", "math")


def storage_key(tensor: torch.Tensor) -> StorageKey | None:
    """What identifies the memory a tensor views (aliases share it)."""
    if tensor.is_meta or tensor.layout is not torch.strided:
        return None
    try:
        pointer = tensor.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):  # fake or functional tensors
        return None
    return (
        pointer,
        tensor.storage_offset(),
        tuple(tensor.shape),
        tuple(tensor.stride()),
        tensor.dtype,
    )


@dataclass(frozen=True)
class CapturedTensor:
    name: str
    """How the user reaches it: `net.0.weight`, `scale`, `self.alpha`."""
    read: Reader


@dataclass
class Captures:
    """Tensors and modules a function reaches, each with its reader."""

    tensors: dict[StorageKey, CapturedTensor] = field(default_factory=dict)
    modules: list[tuple[str, Reader]] = field(default_factory=list)
    numbers: list[tuple[str, Reader, object]] = field(default_factory=list)
    """Python numbers f reads (torch.export bakes them into the program)."""

    def add_tensor(self, tensor: torch.Tensor, name: str, read: Reader) -> None:
        key = storage_key(tensor)
        if key is not None and key not in self.tensors:
            self.tensors[key] = CapturedTensor(name, read)

    def modules_now(self) -> list[tuple[str, torch.nn.Module]]:
        """The modules reached, as they are now (for their train/eval flags)."""
        return [(name, read()) for name, read in self.modules]

    def match(self, constant: torch.Tensor) -> CapturedTensor | None:
        key = storage_key(constant)
        return self.tensors.get(key) if key is not None else None


def find_captures(f: Callable) -> Captures:
    """Every tensor and module `f` reaches, with readers by reference."""
    found = Captures()
    _Walker(found).walk(f, _name_of(f), lambda: f, 0)
    return found


def _name_of(f: object) -> str:
    return "self" if isinstance(f, torch.nn.Module) else ""


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix and name else prefix or name


def _is_library(value: object) -> bool:
    module = getattr(value, "__module__", None) or type(value).__module__ or ""
    return module.split(".")[0] in _LIBRARIES


def path_reader(read: Reader, path: str) -> Reader:
    """Reads the attribute at a dotted path (`0.weight`) of what `read` reads."""
    names = path.split(".")  # once: the reader runs at every call
    return lambda: functools.reduce(getattr, names, read())


class _Walker:
    def __init__(self, found: Captures):
        self.found = found
        self.seen: set[int] = set()
        self.functions: set[int] = set()

    def walk(self, value: object, name: str, read: Reader, depth: int) -> None:
        if depth > _MAX_DEPTH or id(value) in self.seen:
            return
        if isinstance(value, torch.Tensor):
            self.found.add_tensor(value, name, read)
            return
        if isinstance(value, bool | int | float) and name.split(".")[-1] != "training":
            self.found.numbers.append((name, read, value))
            return
        if isinstance(value, type | types.ModuleType) or _is_primitive(value):
            return
        self.seen.add(id(value))
        if isinstance(value, torch.nn.Module):
            self.module(value, name, read, depth)
        elif isinstance(value, functools.partial):
            self.walk(value.func, name, lambda: read().func, depth + 1)
            for i, arg in enumerate(value.args):
                self.walk(arg, f"{name}[{i}]", _item(read, "args", i), depth + 1)
            for key, arg in value.keywords.items():
                self.walk(
                    arg, f"{name}[{key}]", _item(read, "keywords", key), depth + 1
                )
        elif inspect.ismethod(value):
            self.walk(value.__self__, "self", lambda: read().__self__, depth + 1)
            self.function(value.__func__, depth)
        elif inspect.isfunction(value):
            self.function(value, depth)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                self.walk(item, f"{name}[{i}]", _item(read, None, i), depth + 1)
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str | int):
                    self.walk(
                        item, f"{name}[{key!r}]", _item(read, None, key), depth + 1
                    )
        elif hasattr(value, "captured_state"):  # a compiled program of ours
            for key, item in value.captured_state().items():
                self.walk(item, _join(name, key), _state_item(read, key), depth + 1)
        elif hasattr(value, "__dict__") and not _is_library(value):
            for attr, item in vars(value).items():
                self.walk(item, _join(name, attr), _attr(read, attr), depth + 1)
            call = vars(type(value)).get("__call__")
            if inspect.isfunction(call):
                self.function(call, depth)

    def module(self, module: torch.nn.Module, name: str, read: Reader, depth: int):
        self.found.modules.append((name, read))
        tensors = [
            *module.named_parameters(remove_duplicate=False),
            *module.named_buffers(remove_duplicate=False),
        ]
        for sub_path, sub in module.named_modules(remove_duplicate=False):
            for attr, item in vars(sub).items():
                if isinstance(item, torch.Tensor):  # a plain tensor attribute
                    tensors.append((_join(sub_path, attr), item))
        for path, tensor in tensors:
            self.found.add_tensor(tensor, _join(name, path), path_reader(read, path))
        for sub_path, sub in module.named_modules(remove_duplicate=False):
            self.seen.add(id(sub))
            forward = getattr(type(sub), "forward", None)
            if inspect.isfunction(forward) and not _is_library(forward):
                self.function(forward, depth)
            for attr, item in vars(sub).items():
                if not attr.startswith("_") and not isinstance(item, torch.Tensor):
                    sub_read = path_reader(read, sub_path) if sub_path else read
                    self.walk(
                        item,
                        _join(_join(name, sub_path), attr),
                        _attr(sub_read, attr),
                        depth + 1,
                    )

    def function(self, function: types.FunctionType, depth: int) -> None:
        """The closure cells, referenced globals and defaults of user code."""
        if _is_library(function) or id(function) in self.functions:
            return
        self.functions.add(id(function))
        code = function.__code__
        for name, cell in zip(
            code.co_freevars, function.__closure__ or (), strict=True
        ):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            self.walk(value, name, lambda cell=cell: cell.cell_contents, depth + 1)
        namespace = function.__globals__
        for name in _global_names(code):
            if name in namespace:
                self.walk(namespace[name], name, lambda n=name: namespace[n], depth + 1)
        for i, default in enumerate(function.__defaults__ or ()):
            self.walk(default, f"default {i}", lambda d=default: d, depth + 1)
        for key, default in (function.__kwdefaults__ or {}).items():
            self.walk(default, key, lambda d=default: d, depth + 1)


def _global_names(code: types.CodeType) -> Iterator[str]:
    """Names the code (and the lambdas and comprehensions inside it) loads."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _global_names(const)


def _is_primitive(value: object) -> bool:
    return value is None or isinstance(
        value, bool | int | float | complex | str | bytes
    )


def _item(read: Reader, attribute: str | None, key) -> Reader:
    if attribute is None:
        return lambda: read()[key]
    return lambda: getattr(read(), attribute)[key]


def _state_item(read: Reader, key: str) -> Reader:
    return lambda: read().captured_state()[key]


def _attr(read: Reader, attribute: str) -> Reader:
    return lambda: getattr(read(), attribute)


def live_tensor_requiring_grad(constant: torch.Tensor) -> bool:
    """Whether any live tensor that requires grad shares the constant's memory
    (torch.export lifts a parameter it cannot name as a detached alias)."""
    key = storage_key(constant)
    if key is None or not constant.is_floating_point() or constant.numel() == 0:
        return False  # only float data can require grad; empty tensors share none
    pointer = key[0]
    with warnings.catch_warnings():  # isinstance on deprecated torch objects warns
        warnings.simplefilter("ignore")
        for obj in gc.get_objects():
            if type(obj) in weakref.ProxyTypes:
                continue  # isinstance on a dead proxy raises; a live one's referent is listed too
            if isinstance(obj, torch.Tensor) and _requires_grad_at(obj, pointer):
                return True
    return False


def _requires_grad_at(tensor: torch.Tensor, pointer: int) -> bool:
    if not tensor.requires_grad or storage_key(tensor) is None:
        return False
    return tensor.untyped_storage().data_ptr() == pointer


# ------------------------------------------------------------ program state


@dataclass(frozen=True)
class StateArgument:
    """One non-input argument of a compiled program and how to read it."""

    name: str
    read: Reader
    dtype: torch.dtype
    """The dtype it had when compiled (the program may take another: cast)."""
    shape: tuple[int, ...]
    follows_input: bool = False
    """A constant f makes itself: moved to the input's device, not checked."""


class ProgramState:
    """Reads the current values of a program's parameters, buffers and
    captured tensors, in argument order, checking what changed since compile."""

    def __init__(
        self,
        arguments: list[StateArgument],
        program_dtype: torch.dtype,
        modules: list[tuple[str, torch.nn.Module]],
        compiled_in: list[StateArgument] = (),
        numbers: list[tuple[str, Reader, object]] = (),
    ):
        self.arguments = arguments
        self.program_dtype = program_dtype
        self.modes = [
            (name, m, m.training, _hooks(m)) for name, m in _all_modules(modules)
        ]
        # integer/bool tensors of the user's (index lists, masks) that shape the
        # program: snapshots to compare at every call
        self.compiled_in = [(a, a.read().clone()) for a in compiled_in]
        self.numbers = list(numbers)

    def values(self, device: torch.device | None = None) -> list[torch.Tensor]:
        """The current values; with `device`, each must be on it (the inputs')."""
        self.check_modes()
        self.check_compiled_in()
        values = [self._read(argument) for argument in self.arguments]
        if device is not None:
            for i, (argument, value) in enumerate(
                zip(self.arguments, values, strict=True)
            ):
                if argument.follows_input:
                    values[i] = value.to(device)
                elif value.device != device:
                    raise CallError(
                        f"{argument.name} is on {value.device}, but the input is on "
                        f"{device}: move the model and the input to one device"
                    )
        return values

    def check_compiled_in(self) -> None:
        """Numbers and integer tensors baked into the program are unchanged."""
        if torch.compiler.is_compiling():  # traced into a caller: no data
            return
        for name, read, value in self.numbers:
            try:
                now = read()
            except (AttributeError, KeyError, IndexError, NameError):
                continue  # gone: if it mattered, reading the tensors fails too
            if now != value and not (now != now and value != value):  # NaN == NaN
                raise CallError(
                    f"{name} was {value!r} when the operator was compiled and is now "
                    f"{now!r}: Python numbers are compiled into the program, so "
                    "recompile (or make it a tensor, which is read at every call)"
                )
        for argument, snapshot in self.compiled_in:
            value = argument.read()
            if not (
                isinstance(value, torch.Tensor)
                and value.shape == snapshot.shape
                and value.device == snapshot.device
                and torch.equal(value, snapshot)
            ):
                raise CallError(
                    f"{argument.name} changed since compiling, but it is compiled into "
                    "the program (an index list or mask shapes it): recompile"
                )

    def check_modes(self) -> None:
        for name, module, training, hooks in self.modes:
            where = f" ({name})" if name else ""
            if _hooks(module) != hooks:
                raise CallError(
                    f"the hooks of {type(module).__name__}{where} changed since "
                    "compiling (a forward or pre-forward hook was added or removed); "
                    "the program runs the ones traced then: recompile"
                )
            if module.training != training:
                compiled = "training" if training else "eval"
                now = "training" if module.training else "eval"
                raise CallError(
                    f"{type(module).__name__}{where} was compiled in {compiled} mode "
                    f"and is now in {now} mode: recompile the operator after "
                    f"switching modes (the program keeps {compiled}-mode behaviour)"
                )

    def _read(self, argument: StateArgument) -> torch.Tensor:
        try:
            value = argument.read()
        except (AttributeError, KeyError, IndexError, NameError) as error:
            raise CallError(
                f"{argument.name} can no longer be read ({error}): recompile after "
                "changing the structure of the model"
            ) from None
        if not isinstance(value, torch.Tensor):
            raise CallError(
                f"{argument.name} is now a {type(value).__name__}, not a tensor: "
                "recompile"
            )
        if value.dtype != argument.dtype:
            raise CallError(
                f"{argument.name} is now {value.dtype}, but the operator was compiled "
                f"with it {argument.dtype}: recompile after converting the model "
                "(e.g. model.float() / model.double())"
            )
        if tuple(value.shape) != argument.shape:
            raise CallError(
                f"{argument.name} now has shape {tuple(value.shape)}, but the operator "
                f"was compiled for {argument.shape}: recompile"
            )
        return (
            value if value.dtype == self.program_dtype else value.to(self.program_dtype)
        )


def _hooks(module: torch.nn.Module) -> tuple[int, ...]:
    """Which forward hooks a module runs (they are traced into the program)."""
    return tuple(
        id(hook)
        for hooks in (module._forward_hooks, module._forward_pre_hooks)
        for hook in hooks.values()
    )


def _all_modules(
    modules: list[tuple[str, torch.nn.Module]],
) -> Iterator[tuple[str, torch.nn.Module]]:
    seen: set[int] = set()
    for name, module in modules:
        for path, sub in module.named_modules(remove_duplicate=False):
            if id(sub) not in seen:
                seen.add(id(sub))
                yield _join(name, path), sub


def refuse_untracked(
    name: str, constant: torch.Tensor, where: str | None
) -> ExportError:
    """The error for a tensor f reads that requires grad but cannot be followed."""
    line = f"\n  used at: {where}" if where else ""
    return ExportError(
        f"the function reads a tensor of shape {tuple(constant.shape)} ({name}) that "
        "requires grad but is not reachable from it by name (a closure variable, a "
        "global, a module attribute), so the compiled operator could neither follow "
        "its updates nor give it a gradient: wrap f in an nn.Module that holds the "
        "tensor as an nn.Parameter (or a submodule), or detach it explicitly" + line
    )
