"""Programmable payments: Numscript, contracts."""
