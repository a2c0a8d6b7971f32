"""SOP-006 ticketing: the SOP as data (`sop`), the workflow's pure rules (`workflow`), the
ticket service that applies them (`service`), the SLA calendar and the stores (`store`)."""
