"""Delivering the workflow's messages to people: the channel interface and the channels
(Telegram, e-mail, webhook). What to say to whom is decided by ticketing; this only delivers."""
