"""Documents: versioned work instructions and attachments."""
