"""Publicity index: each enterprise's current public credit profile in Redis, and its reader."""

from sinks.publicity.index import PublicityIndex
from sinks.publicity.keys import LISTS, Keys, normalise_code, normalise_name
from sinks.publicity.reader import PublicityReader

__all__ = ["LISTS", "Keys", "PublicityIndex", "PublicityReader", "normalise_code", "normalise_name"]
