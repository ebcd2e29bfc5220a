"""Stream processing: the worker's loops and the domain logic they call, as plain functions.

Only the plain functions are imported here, so importing `streams` connects to nothing; the
worker is built in `streams.app` and run by `streams.worker`.
"""

from streams.errors import (
    ChangeError,
    EnrichmentError,
    NoticeError,
    PrivacyError,
    PublicationError,
    RegistrationError,
    StreamsError,
    TimelinessError,
    VersionError,
)
from streams.rules.changes import (
    CHANGE_TARGETS,
    PendingChange,
    apply_change,
    change_history,
    change_target,
    merge_pending,
)
from streams.rules.enrich import enrich
from streams.rules.notices import (
    JointPunishmentNotice,
    NoticeStage,
    apply_feedback,
    department_code,
    notice_id,
    notices_for,
    open_notice_age_days,
    receiving_departments,
)
from streams.rules.privacy import (
    contains_resident_id,
    hash_personal_id,
    mask_id_number,
    published_payload,
)
from streams.rules.publication import (
    WorkflowState,
    apply_workflow_event,
    next_expiry,
    objection_status,
    publication_status,
)
from streams.rules.regions import region_of
from streams.rules.registry import (
    CodeConflict,
    ConflictReason,
    LegacyKind,
    LegacyLookup,
    RegistryEntry,
    apply_registration,
)
from streams.rules.resolution import (
    Invalid,
    Resolution,
    Resolved,
    Unresolved,
    park_key,
    resolve_subject,
)
from streams.rules.timeliness import (
    assess_timeliness,
    calendar_known,
    china_date,
    working_days_between,
)
from streams.rules.versioning import is_newer, parse_version, record_version

__all__ = [
    "CHANGE_TARGETS",
    "ChangeError",
    "CodeConflict",
    "ConflictReason",
    "EnrichmentError",
    "Invalid",
    "JointPunishmentNotice",
    "LegacyKind",
    "LegacyLookup",
    "NoticeError",
    "NoticeStage",
    "PendingChange",
    "PrivacyError",
    "PublicationError",
    "RegistrationError",
    "RegistryEntry",
    "Resolution",
    "Resolved",
    "StreamsError",
    "TimelinessError",
    "Unresolved",
    "VersionError",
    "WorkflowState",
    "apply_change",
    "apply_feedback",
    "apply_registration",
    "apply_workflow_event",
    "assess_timeliness",
    "calendar_known",
    "change_history",
    "change_target",
    "china_date",
    "contains_resident_id",
    "department_code",
    "enrich",
    "hash_personal_id",
    "is_newer",
    "mask_id_number",
    "merge_pending",
    "next_expiry",
    "notice_id",
    "notices_for",
    "objection_status",
    "open_notice_age_days",
    "park_key",
    "parse_version",
    "publication_status",
    "published_payload",
    "receiving_departments",
    "record_version",
    "region_of",
    "resolve_subject",
    "working_days_between",
]
