"""A department's own view (issue #16): 对账, refusals and parked records, re-upload."""
