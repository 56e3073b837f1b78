"""Maintenance: work requests, preventive plans, MTBF/MTTR, maintenance windows for scheduling."""
