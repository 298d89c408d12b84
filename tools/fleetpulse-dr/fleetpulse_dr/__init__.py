"""Run the fleetpulse.dr recovery scenarios from a terminal, ansible-runner, AWX or Slack."""

__version__ = "0.1.0"
