"""The agent loop and the events it streams."""

from errand.agent.confirm import Approver, ConfirmationRequest, Decision, approve_all, reject_all
from errand.agent.events import Event, RunFailed, RunFinished
from errand.agent.loop import Agent
from errand.agent.state import Budget, CallInfo, Conversation

__all__ = [
    "Agent",
    "Approver",
    "Budget",
    "CallInfo",
    "ConfirmationRequest",
    "Conversation",
    "Decision",
    "Event",
    "RunFailed",
    "RunFinished",
    "approve_all",
    "reject_all",
]
