"""Escalation to the incident war room: triggers, the timer, war-room messages."""
