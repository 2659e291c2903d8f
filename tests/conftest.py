"""Shared pytest configuration."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_torch():
    """Each test starts from the same global seed, so random inputs (and any
    default-initialized weights) do not depend on test order."""
    torch.manual_seed(0)
    yield
