"""Readers for files written by other tools (torch checkpoints), importing only the stdlib."""
