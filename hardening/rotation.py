"""Key rotation, by its old name: ``hardening.crypto.rotation`` (``hardening rotate``)."""

from hardening.crypto.rotation import SAMPLE_ROWS, RotationReport, at_least_one, rotate

__all__ = ["SAMPLE_ROWS", "RotationReport", "at_least_one", "rotate"]
