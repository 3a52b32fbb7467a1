"""One exception type for problems the user can fix.

Anything raised as ``MotorError`` is shown to the user as a one-line message (CLI: exit
status 2, app: an error box). Its text must say what is wrong and how to fix it. Any other
exception is a bug in motor-lab.
"""


class MotorError(ValueError):
    """A user-fixable problem: bad input data, an impossible setting, a missing file."""
