"""Content-addressed, resumable cache of face crops."""

from .store import CACHE_VERSION, CacheEntry, CropCache, EntryWriter, file_fingerprint, settings_key

__all__ = [
    "CACHE_VERSION",
    "CacheEntry",
    "CropCache",
    "EntryWriter",
    "file_fingerprint",
    "settings_key",
]
