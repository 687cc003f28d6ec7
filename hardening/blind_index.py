"""Blind indexes, by their old name: ``hardening.crypto.blind_index`` (docs and applications
import ``hardening.blind_index.mapped_blind_index``; ``hardening.types`` re-exports it too)."""

from hardening.crypto.blind_index import (
    INFO_KEY,
    blind_index_column,
    fill_updates,
    index_column_of,
    mapped_blind_index,
)
from hardening.crypto.index_format import digest, hmac_key

__all__ = [
    "INFO_KEY",
    "blind_index_column",
    "digest",
    "fill_updates",
    "hmac_key",
    "index_column_of",
    "mapped_blind_index",
]
