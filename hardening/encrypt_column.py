"""``op.encrypt_column`` / ``op.decrypt_column``, by their old name: importing this module
registers the operations (``hardening.crypto.encrypt_column``)."""

from hardening.crypto.encrypt_column import DecryptColumnOp, EncryptColumnError, EncryptColumnOp

__all__ = ["DecryptColumnOp", "EncryptColumnError", "EncryptColumnOp"]
