"""Tracking: genealogy of lots and serials, trace backward and forward, recall scope, batch records."""
