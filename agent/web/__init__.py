"""The pages for people: sign-in, the device board, tickets per step, a ticket's page with its
actions, and each step's output document as a printable letter (Indonesian first)."""
