"""OpenMES: an open-source Manufacturing Execution System at ISA-95 level 3."""

__version__ = "0.1.0"
