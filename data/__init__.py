"""Shipped presets and example masks, installed as the package `ussim_data` (see README.md here)."""
