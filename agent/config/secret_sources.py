"""Secrets from where the file says they are: the literal itself, an environment variable,
or a file read relative to the config file's folder.

A problem names the variable or the file, never the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from agent.config.fields import SecretRef
from agent.config.problems import quote
from agent.core.model import Secret


def resolve_secret(
    ref: SecretRef, *, environ: Mapping[str, str], base_dir: Path, min_length: int = 1
) -> Secret | str:
    """The secret `ref` points at, or the problem (a message) that kept it from resolving."""
    origin = "the value"
    if ref.kind == "literal":
        value = ref.value
    elif ref.kind == "env":
        origin = f"environment variable {ref.value}"
        found = environ.get(ref.value)
        if found is None:
            return f"{origin} is not set"
        value = found
    else:
        path = base_dir / ref.value
        origin = f"secret file {quote(str(path))}"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return f"{origin} does not exist"
        except UnicodeDecodeError:
            return f"{origin} is not UTF-8 text"
        except OSError as exc:
            return f"cannot read {origin}: {exc.strerror or type(exc).__name__}"
        # One trailing newline is what editors and `echo` add; anything more is content.
        value = text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text
    if not value:
        return f"{origin} is empty"
    if len(value) < min_length:
        source = f" (from {origin})" if ref.kind != "literal" else ""
        return f"must be at least {min_length} characters long{source}"
    return Secret(value)
