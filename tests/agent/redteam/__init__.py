"""Attacks on the agent boundary, each performed exactly as an adversarial coding agent would."""
