"""One exception type for problems the user can fix.

Anything raised as ``MotorError`` is shown to the user as a one-line message (CLI: exit
status 2, app: an error box). Its text must say what is wrong and how to fix it. Any other
exception is a bug in motor-lab.
"""

import numbers


class MotorError(ValueError):
    """A user-fixable problem: bad input data, an impossible setting, a missing file."""


def check_index(value, n: int, what: str = "item", by_id: str = "") -> int:
    """``value`` as an index into ``n`` users or items (0..n-1), else a MotorError saying so. An id such as
    ``"2571"`` is not an index (a string compared with indexes once matched nothing, silently): ``by_id`` names
    the lookup that turns an id into one."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        lookup = f"; for the {what} with id {value!r} use {by_id}" if by_id and isinstance(value, str) else ""
        raise MotorError(f"{what} indexes are whole numbers from 0 to {n - 1}, got {value!r}{lookup}")
    if not 0 <= value < n:
        raise MotorError(f"{what} index {value} is out of range: there are {n} {what}s, numbered from 0 to {n - 1}")
    return int(value)


def check_k(k) -> None:
    """How many items a list holds: a whole number of at least 1 (``recommend``, ``similar_items``, ``similar``)."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise MotorError(f"k must be a whole number of at least 1, got {k!r}")
