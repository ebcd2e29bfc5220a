"""The project-wide errors as the CLI and the composition root name them; they are defined in
`schemas.errors`, the bottom layer, so that every package's errors derive from one root."""

from schemas.errors import CreditSyncError, MissingPrerequisite, ServiceUnavailable

__all__ = ["CreditSyncError", "MissingPrerequisite", "ServiceUnavailable"]
