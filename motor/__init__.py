"""motor-lab core: MOTOR (ID-free multimodal token representation) for recommendation.

Importing ``motor`` sets the OpenMP wait policy (see ``motor.threads``): before torch or faiss
through the environment, after them by keeping their OpenMP runtimes from spinning.
Modules inside the package need no such import: Python runs this file before any
``motor.<submodule>``, so the policy is always set first.
"""

from motor import threads as _threads  # noqa: F401  (side effect: OpenMP wait policy)
from motor.errors import MotorError

__all__ = ["MotorError"]
__version__ = "0.1.0"
