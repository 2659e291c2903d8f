"""Shared pytest configuration."""

import pytest
import torch


def pytest_configure(config: pytest.Config) -> None:
    # torch.export's own use of a deprecated pytree API, not ours
    config.addinivalue_line(
        "filterwarnings", "ignore:.*LeafSpec.*is deprecated:FutureWarning"
    )


@pytest.fixture(autouse=True)
def _deterministic_torch():
    """Each test starts from the same global seed, so random inputs (and any
    default-initialized weights) do not depend on test order."""
    torch.manual_seed(0)
    yield
