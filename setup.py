"""The one compiled part: collectors/icmp/_echo.c, the per-packet ICMP echo path (sendmmsg,
recvmmsg, reply matching). Optional: without a C compiler and Python's headers the install goes
on, and pantau runs the same path in Python (collectors/icmp/engine.py says which one runs).
Everything else is declared in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "collectors.icmp._echo",
            ["collectors/icmp/_echo.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter",
                                "-Wno-missing-field-initializers", "-Wno-cast-function-type"],
            optional=True,
        )
    ]
)
