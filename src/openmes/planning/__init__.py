"""MS3 planning: production orders from the ERP, shift calendars, finite-capacity scheduling."""
