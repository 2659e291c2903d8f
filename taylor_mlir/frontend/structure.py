"""
How f's inputs nest.

An input of f may be a tensor or a dict, list or tuple of tensors, nested to
any depth (`f(params, x)` with `params = {"scale": s, "bias": b}`). torch.export
and the compiled program take the leaves, in `torch.utils._pytree` order, each
a batch `(N, *S)`. `InputStructure` flattens the example and every call the
same way, names each leaf by its path (`input 0['scale']`), and maps an input
index (`wrt=`) to its leaf.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils import _pytree as pytree

from taylor_mlir.errors import CallError, OptionError


class InputStructure:
    """The nesting of f's inputs (`inputs`: the top-level ones, in order)."""

    def __init__(self, inputs: Sequence[Any]):
        self.count = len(inputs)
        with_paths, self.spec = pytree.tree_flatten_with_path(tuple(inputs))
        self.leaves: list[Any] = [leaf for _, leaf in with_paths]
        self.input_of_leaf = [path[0].idx for path, _ in with_paths]
        self.paths = [pytree.keystr(path[1:]) for path, _ in with_paths]
        self.names = self.leaf_names([self.input_name(i) for i in range(self.count)])
        self.kinds = [type(x) for x in inputs]
        self.input_specs = [pytree.tree_structure(x) for x in inputs]
        self.nested = not all(issubclass(kind, torch.Tensor) for kind in self.kinds)

    @classmethod
    def of_example(cls, x: Any) -> InputStructure:
        """x: one input, or a tuple or list of them (f of several inputs)."""
        structure = cls(tuple(x) if isinstance(x, tuple | list) else (x,))
        if not structure.leaves:
            raise OptionError("x must be a tensor or a non-empty tuple of tensors")
        return structure

    def input_name(self, index: int) -> str:
        return "x" if self.count == 1 else f"input {index}"

    def leaf_names(self, input_names: Sequence[str]) -> list[str]:
        """Each leaf named by its input's name and its path (`input 0['bias']`)."""
        return [
            input_names[top] + path
            for top, path in zip(self.input_of_leaf, self.paths, strict=True)
        ]

    def leaves_of_input(self, index: int) -> list[int]:
        return [i for i, top in enumerate(self.input_of_leaf) if top == index]

    def leaf_of(self, index: int) -> int:
        """The leaf of input `index`, which must be a tensor (an operator
        differentiates it)."""
        if not issubclass(self.kinds[index], torch.Tensor):
            kind = self.kinds[index].__name__
            raise OptionError(
                f"x is a {kind} of tensors: an operator differentiates one tensor "
                "input; pass the others beside it, e.g. tm.laplacian(f, (params, x), "
                "wrt=1) for f(params, x)"
                if self.count == 1
                else f"wrt={index} names an input that is a {kind} of tensors: the "
                "input an operator differentiates must be one tensor"
            )
        (leaf,) = self.leaves_of_input(index)
        return leaf

    def flatten(self, inputs: Sequence[Any]) -> list[Any]:
        """A call's inputs as the program's leaves; a CallError when they nest
        otherwise than the example's."""
        if not self.nested and all(isinstance(x, torch.Tensor) for x in inputs):
            return list(inputs)  # the common case, without pytree's cost per call
        leaves, spec = pytree.tree_flatten(tuple(inputs))
        if spec != self.spec:
            what = "x is" if self.count == 1 else "the inputs are"
            raise CallError(
                f"{what} shaped as {self.outline(spec, self.count == 1)}; this "
                f"program was compiled for {self.outline(self.spec, self.count == 1)}"
            )
        return leaves

    def flatten_input(self, index: int, value: Any, what: str) -> list[Any]:
        """One input's value (as input `index` nests) as its leaves."""
        expected = self.input_specs[index]
        leaves, spec = pytree.tree_flatten(value)
        if spec != expected:
            raise CallError(
                f"{what} is shaped as {self.outline(spec)}; the input is "
                f"{self.outline(expected)}"
            )
        return leaves

    @staticmethod
    def outline(spec: pytree.TreeSpec, first: bool = False) -> str:
        """The nesting with every leaf written T: `({'scale': T}, T)`; `first`:
        of the first of a tuple of inputs."""
        tree = pytree.tree_unflatten([_Leaf()] * spec.num_leaves, spec)
        return repr(tree[0] if first and isinstance(tree, tuple) and tree else tree)

    def function_of_leaves(self, f: Callable) -> Callable:
        """f as a function of the leaves (what torch.export traces)."""
        return f if not self.nested else _OfLeaves(f, self.spec)


class _Leaf:
    def __repr__(self) -> str:
        return "T"


class _OfLeaves:
    """f called with its nested inputs rebuilt from their leaves. Its state is
    f's (`captured_state`, `frontend/captures.py`), and `__wrapped__` names f
    in export's messages."""

    def __init__(self, f: Callable, spec: pytree.TreeSpec):
        self.f = f
        self.spec = spec
        self.__wrapped__ = f

    def __call__(self, *leaves: torch.Tensor) -> Any:
        return self.f(*pytree.tree_unflatten(list(leaves), self.spec))

    def captured_state(self) -> dict[str, Any]:
        return {"": self.f}  # f's state under f's own names
