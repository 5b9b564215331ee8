"""Assertions that several test modules share."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from optbench.errors import UserError


def one_line_error(load: Callable[..., object], *args: object) -> str:
    """The message of the ``UserError`` that ``load(*args)`` raises, checked to be one line."""
    with pytest.raises(UserError) as info:
        load(*args)
    message = str(info.value)
    assert "\n" not in message
    return message
