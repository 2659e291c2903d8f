"""
Loading the user's function for `taylor-mlir compile`: `path/to/file.py:NAME` or
`package.module:NAME`, a class, a factory, a module instance or a tensor
function. Every failure is a `CLIError` that names the file, module or attribute.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from taylor_mlir.errors import CLIError


def load_function(spec: str, dtype: torch.dtype) -> Callable:
    """The callable named by `path/to/file.py:NAME` or `package.module:NAME`.

    A class is instantiated with no arguments; a zero-argument callable is a
    factory and is called (it must return a `torch.nn.Module`); any other
    callable is the tensor function itself. Modules are cast to `dtype` and put
    in eval mode (rows must not interact, so no batch statistics).
    """
    module_name, sep, attribute = spec.rpartition(":")
    if not sep or not module_name or not attribute:
        raise CLIError(
            f"invalid function {spec!r}: expected MODULE:NAME, e.g. "
            "path/to/model.py:Net or mypackage.models:make_net"
        )
    module = _import_user_module(module_name)
    obj = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise CLIError(f"{module_name} has no attribute {attribute!r}")
        obj = getattr(obj, part)
    function = _instantiate(obj, spec)
    if isinstance(function, torch.nn.Module):
        function = function.to(dtype).eval()
    return function


def _import_user_module(name: str):
    """A module from a file path (`.py`) or an importable dotted name."""
    if name.endswith(".py") or "/" in name:
        path = Path(name)
        if not path.is_file():
            raise CLIError(f"no such Python file: {name}")
        # A name of its own (decorators such as @dataclass look the module up).
        module_name = f"_taylor_mlir_user_{abs(hash(str(path.resolve())))}_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        # The file's own directory is importable, as when running it as a script.
        sys.path.insert(0, str(path.resolve().parent))
        try:
            module_spec.loader.exec_module(module)
        except Exception as error:
            del sys.modules[module_name]
            raise CLIError(
                f"importing {name} failed: {describe_error(error)}"
            ) from error
        finally:
            sys.path.remove(str(path.resolve().parent))
        return module
    # Like `python -m`, modules in the working directory are importable.
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        raise CLIError(
            f"cannot import module {name!r}: {error} (give a file path ending in "
            ".py or an importable module name)"
        ) from error
    except Exception as error:
        raise CLIError(f"importing {name} failed: {describe_error(error)}") from error


def _instantiate(obj, spec: str) -> Callable:
    if inspect.isclass(obj):
        try:
            obj = obj()
        except Exception as error:
            raise CLIError(
                f"cannot instantiate {spec} with no arguments: {describe_error(error)}"
            ) from error
    elif not isinstance(obj, torch.nn.Module) and _takes_no_arguments(obj):
        try:
            result = obj()
        except Exception as error:
            raise CLIError(
                f"calling factory {spec}() failed: {describe_error(error)}"
            ) from error
        if not isinstance(result, torch.nn.Module):
            raise CLIError(
                f"{spec} takes no arguments, so it was called as a model factory, "
                f"but it returned {type(result).__name__}, not a torch.nn.Module"
            )
        obj = result
    if not callable(obj):
        raise CLIError(
            f"{spec} is a {type(obj).__name__}: expected a torch.nn.Module (class "
            "or instance), a factory returning one, or a tensor function"
        )
    return obj


def _takes_no_arguments(obj) -> bool:
    """True for a callable whose every parameter has a default."""
    if not callable(obj):
        return False
    try:
        parameters = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: a tensor function
        return False
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in parameters
    )


def describe_error(error: BaseException) -> str:
    """An exception as one line: `Type: message` (first line of the message)."""
    message = " ".join(str(error).split("\n")[0].split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
