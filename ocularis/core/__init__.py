"""Plumbing that knows no task: image io, checkpoints, run folders, plots."""
