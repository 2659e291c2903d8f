"""Compiled programs pickle (and copy) as the call that built them: unpickling
compiles again, bound to the unpickled f. Values are checked against
torch.func, not only against the original program."""

import copy
import io
import pickle

import pytest
import torch
from torch.func import hessian, vmap

import taylor_mlir as tm
from taylor_mlir.errors import OptionError
from taylor_mlir.frontend import import_torch


def _net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)
    ).double()


def _laplacian(f, x):
    def one(xi):
        return torch.diagonal(hessian(lambda z: f(z[None]).reshape(()))(xi)).sum()

    return vmap(one)(x)


@pytest.fixture
def x():
    return torch.rand(
        6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)
    )


def test_an_unpickled_operator_follows_the_unpickled_module(x):
    net = _net()
    lap = tm.laplacian(net, x)
    net2, lap2 = pickle.loads(pickle.dumps((net, lap)))
    assert lap2.f is net2
    torch.testing.assert_close(
        lap2(x).reshape(-1), _laplacian(net, x), rtol=0, atol=1e-12
    )
    with torch.no_grad():  # trained after loading: the operator reads its module
        net2[0].weight.mul_(1.5)
    torch.testing.assert_close(
        lap2(x).reshape(-1), _laplacian(net2, x), rtol=0, atol=1e-12
    )
    # gradients reach the unpickled module's parameters
    lap2(x).sum().backward()
    assert net2[0].weight.grad is not None and net[0].weight.grad is None


def test_torch_save_and_load_of_a_checkpoint(x):
    net = _net()
    buffer = io.BytesIO()
    torch.save({"model": net, "laplacian": tm.laplacian(net, x)}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert loaded["laplacian"].f is loaded["model"]
    torch.testing.assert_close(
        loaded["laplacian"](x).reshape(-1), _laplacian(net, x), rtol=0, atol=1e-12
    )


def test_the_example_values_are_not_pickled(x):
    big = torch.rand(4096, 3, dtype=torch.float64)
    lap = tm.laplacian(_net(), big)
    assert len(pickle.dumps(lap)) < big.numel() * big.element_size() / 4
    lap2 = pickle.loads(pickle.dumps(lap))
    torch.testing.assert_close(lap2(x), lap(x), rtol=0, atol=0)


def test_a_randomized_operator_continues_its_stream(x):
    op = tm.laplacian(
        _net(), x, randomization=("rademacher", 2), seed=3, strategy="randomized"
    )
    op(x)  # the stream moves on
    op2 = pickle.loads(pickle.dumps(op))
    torch.testing.assert_close(op2(x), op(x), rtol=0, atol=0)
    fresh = tm.laplacian(
        _net(), x, randomization=("rademacher", 2), seed=3, strategy="randomized"
    )
    first = fresh(x)
    assert not torch.equal(op2(x), first)  # not restarted at seed=


def test_every_entry_point_pickles(x):
    net = _net()
    coefficients = torch.diag(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    programs = {
        "compile": tm.compile(net, x, "laplacian"),
        "weighted": tm.weighted_laplacian(net, x, coefficients=coefficients),
        "biharmonic": tm.biharmonic(net, x),
        "linear operator": tm.linear_operator(
            net, x, terms={(0, 0): torch.tensor(2.0, dtype=torch.float64), (1,): 1.0}
        ),
        "of a compiled operator": tm.laplacian(tm.laplacian(net, x), x),
    }
    for name, program in programs.items():
        again = pickle.loads(pickle.dumps(program))
        assert type(again) is type(program), name
        torch.testing.assert_close(again(x), program(x), rtol=0, atol=1e-13, msg=name)
    assert (
        programs["biharmonic"].stats().strategy.chosen
        == pickle.loads(pickle.dumps(programs["biharmonic"])).stats().strategy.chosen
    )


def _sine_times(a, b):  # module level: pickle finds it by name
    return torch.sin(a) * b


def test_a_jet_of_several_inputs_pickles():
    a, b = torch.rand(4, 2, dtype=torch.float64), torch.rand(4, 2, dtype=torch.float64)
    j = tm.jet(_sine_times, (a, b), order=2)
    j2 = pickle.loads(pickle.dumps(j))
    series = ([a, a], [b])
    (f0, (f1, f2)), (g0, (g1, g2)) = j((a, b), series), j2((a, b), series)
    for mine, theirs in ((f0, g0), (f1, g1), (f2, g2)):
        torch.testing.assert_close(theirs, mine, rtol=0, atol=0)


def test_copies_compile_again(x):
    net = _net()
    lap = tm.laplacian(net, x)
    shallow, deep = copy.copy(lap), copy.deepcopy(lap)
    assert shallow.f is net and deep.f is not net
    for program in (shallow, deep):
        torch.testing.assert_close(program(x), lap(x), rtol=0, atol=0)


def test_a_program_built_from_an_import_refuses_to_pickle(x):
    net = _net()
    imported = import_torch(net, (x,), dynamic_batch=True)
    program = tm.compile(net, x, "laplacian", imported=imported)
    with pytest.raises(OptionError, match="built with imported=.*without imported="):
        pickle.dumps(program)


def test_a_lambda_f_fails_as_pickle_says(x):
    lap = tm.laplacian(lambda z: torch.sin(z).sum(-1, keepdim=True), x)
    with pytest.raises((pickle.PicklingError, AttributeError), match="lambda"):
        pickle.dumps(lap)


def test_a_compiled_function_pickles(x):
    net = _net()
    compiled = tm.compile_function(net, x)
    net2, compiled2 = pickle.loads(pickle.dumps((net, compiled)))
    assert compiled2.f is net2
    torch.testing.assert_close(compiled2(x), net(x), rtol=0, atol=1e-15)
