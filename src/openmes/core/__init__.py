"""The shared kernel: settings, database, messages and outbox, audit trail, auth, errors. Imports no area."""
