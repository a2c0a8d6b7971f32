"""Monthly reports for the officials (issue 16): availability per device and agency, and SLA
compliance per step and role. `model` holds the values every output (page, PDF, CSV, JSON)
is rendered from, so they all show the same numbers."""
