"""The torch backend settles glibc's heap once per process, so an eager
program of MiB-sized intermediates does not fault its heap in again at every
call (`backends/cpu_heap.py`). Page faults are counted in fresh processes:
a pytest worker's heap already saw other tests' large tensors."""

import platform
import subprocess
import sys

import pytest

_CALLS = """
import resource, sys, torch
import taylor_mlir as tm
import taylor_mlir.backends.cpu_heap as cpu_heap
if sys.argv[1] == "unsettled":
    cpu_heap.settle_cpu_heap = lambda: False
    import taylor_mlir.backends.torch_backend as torch_backend
    torch_backend.settle_cpu_heap = cpu_heap.settle_cpu_heap
torch.set_num_threads(1)
torch.manual_seed(0)
layers = [torch.nn.Linear(2, 64), torch.nn.Tanh()]
for _ in range(3):
    layers += [torch.nn.Linear(64, 64), torch.nn.Tanh()]
net = torch.nn.Sequential(*layers, torch.nn.Linear(64, 1))
x = torch.rand(4096, 2)
lap = tm.laplacian(net, x)
with torch.no_grad():
    for _ in range(3):
        lap(x)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        lap(x)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print((after - before) / 20)
"""


def _faults_per_call(mode: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _CALLS, mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return float(done.stdout.split()[-1])


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="the thresholds settled are glibc malloc's",
)
def test_a_small_pinn_does_not_fault_its_heap_in_at_every_call():
    unsettled = _faults_per_call("unsettled")
    if unsettled < 200:
        pytest.skip(f"this process's malloc did not trim ({unsettled} faults per call)")
    settled = _faults_per_call("settled")
    # each 1 MiB intermediate is 256 pages: unsettled, several are faulted in
    # at every call (1100-2000 pages here); settled, fewer than one (0-64)
    assert settled < 256 and settled < unsettled / 5, (settled, unsettled)
