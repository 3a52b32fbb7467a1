"""motor-lab core: MOTOR (ID-free multimodal token representation) for recommendation.

Importing ``motor`` first sets the OpenMP wait policy (see ``motor.threads``), so import it
before torch or faiss in any entry point. Modules inside the package need no such import:
Python runs this file before any ``motor.<submodule>``, so the policy is always set first.
"""

from motor import threads as _threads  # noqa: F401  (side effect: OpenMP env)
from motor.errors import MotorError

__all__ = ["MotorError"]
__version__ = "0.1.0"
