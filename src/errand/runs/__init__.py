"""Durable runs: agent runs that survive a crash, wait for people, and never repeat an effect."""

from errand.runs.log import RunRecord, RunStatus, StoredEvent, ThreadRecord
from errand.runs.service import Runs

__all__ = ["RunRecord", "RunStatus", "Runs", "StoredEvent", "ThreadRecord"]
