"""
The C heap's trim threshold, raised once per process for eager programs.

glibc's malloc gives freed memory at the top of the heap back to the kernel
once more than its trim threshold is free, and the threshold follows the
largest mmap-backed block the process has freed (twice its size, up to
twice `DEFAULT_MMAP_THRESHOLD_MAX`, 32 MiB). A process whose tensors are all
about a MiB, a small PINN, keeps it near 2 MiB: at every call the eager
program's intermediates grow the heap, the last frees trim it, and the next
call faults every page in again. Measured on a tanh PINN (D = 2, 4 layers of
64, N = 4096, f32, 2 cores), each in a fresh process: 900-1700 page faults
per call and 550-1260 per training step, against 0-50 after one 32 MiB block
was freed; the training step took 0.85x the time (medians of six processes
each). A process that once frees a tensor of 32 MiB, as most larger workloads
do, is there already; the price is up to 64 MiB of free heap kept for reuse.
"""

from __future__ import annotations

import functools
import platform

import torch

# Just under glibc's cap on the dynamic threshold (it counts the block's header).
_SETTLING_BLOCK_BYTES = (32 << 20) - (64 << 10)


@functools.cache
def settle_cpu_heap() -> bool:
    """Frees one block of `_SETTLING_BLOCK_BYTES` through the tensor
    allocator, once per process, where malloc is glibc's (whose dynamic
    thresholds it raises to their cap); whether it did. Its pages are never
    touched: no memory is written or kept."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    block = torch.empty(_SETTLING_BLOCK_BYTES, dtype=torch.uint8)
    del block
    return True
