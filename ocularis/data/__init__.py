"""Readers (one file per format), built-in datasets and transforms."""
