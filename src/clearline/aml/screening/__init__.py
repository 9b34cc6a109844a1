"""Sanctions and PEP screening: lists in their real formats (`lists`), names across scripts
(`names`), matching with explained, calibrated scores (`matcher`)."""
