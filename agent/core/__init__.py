"""The foundation every package may import: the data model, errors, the clock and the frozen
settings. It imports nothing else of pantau."""
