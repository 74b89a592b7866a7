"""Builds the Lightning Trainer from a config (callbacks, loggers, precision, strategy) and the run folder."""
