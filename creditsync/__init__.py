"""creditsync: near-real-time sync of enterprise credit records (the composition root)."""

from creditsync.errors import CreditSyncError

__all__ = ["CreditSyncError"]
__version__ = "0.1.0"
