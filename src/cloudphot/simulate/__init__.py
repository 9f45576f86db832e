"""Synthetic HST-like data: single exposures (``exposure``) and whole crowded fields (``field``).

Import the submodules directly; this package exports nothing so that its parts stay independent.
"""
