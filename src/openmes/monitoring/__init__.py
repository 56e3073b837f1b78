"""MS7 monitoring: live status of every work center, alert rules, acknowledgement, escalation, andon."""
