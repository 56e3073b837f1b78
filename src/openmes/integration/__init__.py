"""Integration: B2MML import and export, webhooks, the UNS publisher."""
