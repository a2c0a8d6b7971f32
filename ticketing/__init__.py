"""SOP-006 ticketing: the SOP as data, tickets, SLA calendar and stores (built in a later issue)."""
