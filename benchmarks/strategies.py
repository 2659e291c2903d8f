"""
The strategies the operator benchmark compares, each behind one builder.

A builder takes the model, an example batch and a `Workload` and returns a
callable `x -> operator(f)(x)` for any batch size, or raises `Unavailable`
(a missing package or backend) with a reason the table prints.

* torch.func nested: the paper's baseline, nested autograd per datum, vmapped:
  exact operators trace the torch.func Hessian (the biharmonic is the Laplacian
  of the Laplacian); the stochastic Laplacian is Hutchinson's estimator with
  vector-Hessian-vector products (jvp of grad) along the sampled directions.
* jet standard / collapsed: the reference implementation (PyPI
  `jet-for-pytorch`, `import jet`) the way its own benchmark uses it: the
  operator of one datum is traced to an FX graph, common subexpressions are
  eliminated, and the graph is vmapped over the batch; `+ torch.compile` hands
  that vmapped graph to torch.compile (Inductor). The faster of the two is the
  reference (`JET_REFERENCES`): what a careful user would pick.
* ours standard / collapsed on each backend: `taylor_mlir` compiled operators
  (they take the whole batch; the batch dimension is dynamic). The biharmonic
  chooses its program by cost (`taylor_mlir/strategy.py`); `nested` and
  `interpolated` force one (biharmonic workloads only).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import torch

from taylor_mlir.benchmarking import compile_operator, nested_reference

Operator = Callable[[torch.Tensor], torch.Tensor]


class Unavailable(Exception):
    """A strategy that cannot run here (package or backend missing)."""


class NotApplicable(Unavailable):
    """A strategy that does not apply to the workload: it gets no row."""


@dataclass(frozen=True)
class Workload:
    """One operator on the paper's MLP at one dtype, over several batch sizes."""

    operator: str  # "laplacian" | "biharmonic"
    dim: int
    batch_sizes: tuple[int, ...]
    dtype: torch.dtype
    samples: int | None = None  # S directions of the stochastic estimator

    @property
    def randomization(self) -> tuple[str, int] | None:
        return None if self.samples is None else ("rademacher", self.samples)

    @property
    def name(self) -> str:
        kind = "exact" if self.samples is None else f"stochastic S={self.samples}"
        dtype = str(self.dtype).removeprefix("torch.")
        return f"{kind} {self.operator} D={self.dim} {dtype}"


# ------------------------------------------------------------------ torch.func


def nested_hutchinson_laplacian(f: Callable, samples: int) -> Operator:
    """Hutchinson's estimate `mean_s v_s^T H v_s` with Rademacher `v_s` drawn per
    call and datum (as jet and ours draw them), each term a jvp of the torch.func
    gradient, vmapped over directions and data."""

    def one_datum(x: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
        gradient = torch.func.jacrev(lambda y: f(y.unsqueeze(0)).squeeze(0))

        def curvature(v: torch.Tensor) -> torch.Tensor:
            _, hessian_v = torch.func.jvp(gradient, (x,), (v,))
            return hessian_v @ v

        return torch.func.vmap(curvature)(directions).mean(0)

    batched = torch.func.vmap(one_datum)

    def estimate(x: torch.Tensor) -> torch.Tensor:
        shape = (x.shape[0], samples, x.shape[1])
        signs = torch.randint(0, 2, shape, dtype=x.dtype) * 2 - 1
        return batched(x, signs)

    return estimate


def build_nested(model: Callable, x: torch.Tensor, workload: Workload) -> Operator:
    if workload.samples is not None:
        if workload.operator != "laplacian":
            raise Unavailable("only the stochastic Laplacian is benchmarked")
        return nested_hutchinson_laplacian(model, workload.samples)
    return nested_reference(model, workload.operator)


def build_nested_compiled(
    model: Callable, x: torch.Tensor, workload: Workload
) -> Operator:
    """torch.compile of the nested baseline (optional: slow to compile on CPU)."""
    return torch.compile(build_nested(model, x, workload))


# ------------------------------------------------------------ jet-for-pytorch


def jet_available() -> bool:
    return importlib.util.find_spec("jet") is not None


def build_jet(
    collapsed: bool, compiled: bool = False
) -> Callable[[Callable, torch.Tensor, Workload], Operator]:
    def build(model: Callable, x: torch.Tensor, workload: Workload) -> Operator:
        if not jet_available():
            raise Unavailable(
                "jet-for-pytorch is not installed (pip install jet-for-pytorch; "
                "it declares Python >= 3.12)"
            )
        import jet
        from jet.tracing import capture_graph

        transform = {"laplacian": jet.laplacian, "biharmonic": jet.bilaplacian}
        one_datum = transform[workload.operator](
            model,
            (x[0],),
            collapsed=collapsed,
            randomization=workload.randomization,
        )
        graph, _ = capture_graph(one_datum, (x[0],))
        jet.common_subexpression_elimination(graph.graph)
        graph.recompile()
        randomness = "error" if workload.samples is None else "different"
        operator = torch.func.vmap(graph, randomness=randomness)
        return torch.compile(operator) if compiled else operator

    return build


# ------------------------------------------------------------------------ ours


def build_ours(
    collapsed: bool, backend: str, strategy: str | None = None
) -> Callable[[Callable, torch.Tensor, Workload], Operator]:
    def build(model: Callable, x: torch.Tensor, workload: Workload) -> Operator:
        import taylor_mlir as tm
        from taylor_mlir.errors import BackendError

        if strategy is not None and workload.operator != "biharmonic":
            raise NotApplicable(f"strategy={strategy!r} is for the biharmonic")
        try:
            if strategy is not None:
                return tm.biharmonic(
                    model, x, collapsed=collapsed, backend=backend, strategy=strategy
                )
            return compile_operator(
                model,
                x,
                workload.operator,
                collapsed=collapsed,
                backend=backend,
                randomization=workload.randomization,
                seed=0,
            )
        except (BackendError, ImportError) as error:
            raise Unavailable(f"{backend}: {error}") from error

    return build


STRATEGIES: dict[str, Callable[[Callable, torch.Tensor, Workload], Operator]] = {
    "torch.func nested": build_nested,
    "jet standard": build_jet(collapsed=False),
    "jet collapsed": build_jet(collapsed=True),
    "jet collapsed + torch.compile": build_jet(collapsed=True, compiled=True),
    "ours standard (torch)": build_ours(collapsed=False, backend="torch"),
    "ours collapsed (torch)": build_ours(collapsed=True, backend="torch"),
    "ours collapsed nested (torch)": build_ours(True, "torch", "nested"),
    "ours collapsed interpolated (torch)": build_ours(True, "torch", "interpolated"),
    "ours collapsed (torch-inductor)": build_ours(
        collapsed=True, backend="torch-inductor"
    ),
    "ours standard (iree-cpu)": build_ours(collapsed=False, backend="iree-cpu"),
    "ours collapsed (iree-cpu)": build_ours(collapsed=True, backend="iree-cpu"),
}
OPTIONAL_STRATEGIES = {"torch.func nested + torch.compile": build_nested_compiled}
BASELINE = "torch.func nested"
JET_REFERENCES = ("jet collapsed", "jet collapsed + torch.compile")
