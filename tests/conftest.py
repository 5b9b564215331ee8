import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from checks import one_torch_thread


@pytest.fixture
def one_thread():
    """The test on one intra-op torch thread (see :func:`checks.one_torch_thread`)."""
    with one_torch_thread():
        yield
