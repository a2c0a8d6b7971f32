"""The concrete channels: Telegram Bot API, e-mail over SMTP, signed JSON webhooks."""
