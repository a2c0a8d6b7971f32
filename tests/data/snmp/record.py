"""Record real net-snmp snmpd responses from a fresh device lab into tests/data/snmp/*.hex.

Run as root from the project root: `.venv/bin/python tests/data/snmp/record.py`. Each file holds
`#` comment lines (the request) and the response in hex. The lab's random community is
overwritten with a placeholder of the same length; every other byte is as snmpd sent it.
"""

from __future__ import annotations

import socket
import sys
import tempfile
from pathlib import Path

from collectors.snmp import ber
from lab.lab import Lab, start

HERE = Path(__file__).resolve().parent

Oid = tuple[int, ...]
SYSTEM: list[Oid] = [(1, 3, 6, 1, 2, 1, 1, n, 0) for n in range(1, 8)]
IF_COLUMNS: list[Oid] = [
    (1, 3, 6, 1, 2, 1, 2, 2, 1, c) for c in (2, 3, 5, 6, 7, 8, 10, 13, 14, 16, 19, 20)
]
IFX_COLUMNS: list[Oid] = [(1, 3, 6, 1, 2, 1, 31, 1, 1, 1, c) for c in (1, 6, 10, 15, 18)]
IF_IN_OCTETS: Oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 10)
IF_HC_IN_OCTETS: Oid = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6)
SYS_UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)
LA_LOAD_FLOAT = (1, 3, 6, 1, 4, 1, 2021, 10, 1, 6)  # UCD-SNMP-MIB: Opaque-wrapped floats
IP_AD_ENT_ADDR = (1, 3, 6, 1, 2, 1, 4, 20, 1, 1)  # IpAddress values
HR_STORAGE = (1, 3, 6, 1, 2, 1, 25, 2, 3, 1)  # negative-free INTEGERs, OIDs, strings

# name -> (version, pdu type, oids, max-repetitions)
Request = tuple[int, int, list[Oid], int]
REQUESTS: dict[str, Request] = {
    "v2c_get_system": (ber.V2C, ber.GET_REQUEST, SYSTEM, 0),
    "v2c_get_sysuptime": (ber.V2C, ber.GET_REQUEST, [SYS_UPTIME], 0),
    "v2c_get_missing": (
        ber.V2C,
        ber.GET_REQUEST,
        [(1, 3, 6, 1, 2, 1, 1, 3, 1), (1, 3, 6, 1, 2, 1, 1, 99, 0), SYS_UPTIME],
        0,
    ),
    "v2c_getnext_system": (ber.V2C, ber.GET_NEXT_REQUEST, [(1, 3, 6, 1, 2, 1, 1)], 0),
    "v2c_bulk_if_page1": (ber.V2C, ber.GET_BULK_REQUEST, IF_COLUMNS, 25),
    "v2c_bulk_if_page2": (
        ber.V2C,
        ber.GET_BULK_REQUEST,
        [(*c, 25) for c in IF_COLUMNS],
        25,
    ),
    "v2c_bulk_ifx_page1": (ber.V2C, ber.GET_BULK_REQUEST, IFX_COLUMNS, 25),
    "v2c_bulk_ifx_page2": (ber.V2C, ber.GET_BULK_REQUEST, [(*c, 25) for c in IFX_COLUMNS], 25),
    "v2c_bulk_if_entry": (ber.V2C, ber.GET_BULK_REQUEST, [(1, 3, 6, 1, 2, 1, 2, 2, 1)], 25),
    "v2c_bulk_ifhcin": (ber.V2C, ber.GET_BULK_REQUEST, [IF_HC_IN_OCTETS], 60),
    "v2c_bulk_end_of_mib": (ber.V2C, ber.GET_BULK_REQUEST, [(2, 999)], 5),
    "v2c_bulk_loadavg_opaque": (ber.V2C, ber.GET_BULK_REQUEST, [LA_LOAD_FLOAT], 3),
    "v2c_bulk_ipaddr": (ber.V2C, ber.GET_BULK_REQUEST, [IP_AD_ENT_ADDR], 5),
    "v2c_bulk_hrstorage": (ber.V2C, ber.GET_BULK_REQUEST, [HR_STORAGE], 25),
    "v1_get_system": (ber.V1, ber.GET_REQUEST, SYSTEM, 0),
    "v1_get_missing": (ber.V1, ber.GET_REQUEST, [SYS_UPTIME, (1, 3, 6, 1, 2, 1, 1, 99, 0)], 0),
    "v1_getnext_if": (ber.V1, ber.GET_NEXT_REQUEST, IF_COLUMNS, 0),
    "v1_getnext_counter64_skipped": (ber.V1, ber.GET_NEXT_REQUEST, [IF_HC_IN_OCTETS], 0),
    "v1_getnext_end_of_mib": (ber.V1, ber.GET_NEXT_REQUEST, [(2, 999)], 0),
    "v1_getnext_ifinoctets": (ber.V1, ber.GET_NEXT_REQUEST, [IF_IN_OCTETS], 0),
}


def _placeholder(community: bytes) -> bytes:
    return (b"recorded-" + b"x" * len(community))[: len(community)]


def record(lab: Lab, out: Path) -> list[Path]:
    """Send every request in REQUESTS to the lab's snmpd and write one .hex per response."""
    community = lab.community.encode()
    target = (lab.address(0), lab.snmp_port)
    written = []
    with lab.inside():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        sock.settimeout(2.0)
        for n, (name, (version, pdu_type, oids, reps)) in enumerate(REQUESTS.items(), 1):
            request = ber.encode_request(
                version, community, pdu_type, 1000 + n, oids, max_repetitions=reps
            )
            sock.sendto(request, target)
            data, _ = sock.recvfrom(65536)
            if community not in data:
                raise RuntimeError(f"{name}: community not found in the response")
            data = data.replace(community, _placeholder(community), 1)
            ber.decode_response(data)  # fail loudly now rather than in the test
            path = out / f"{name}.hex"
            hexed = data.hex()
            body = "\n".join(hexed[i : i + 64] for i in range(0, len(hexed), 64))
            oid_text = " ".join(ber.format_oid(o) for o in oids)
            path.write_text(
                f"# net-snmp snmpd response; request: version={version} pdu={pdu_type:#04x}"
                f" max-repetitions={reps}\n# oids: {oid_text}\n{body}\n"
            )
            written.append(path)
    return written


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="pantau-record-") as tmp:
        lab = start(Path(tmp), name=f"pantau-record-{Path(tmp).name[-6:]}")
        try:
            for path in record(lab, HERE):
                print(path.relative_to(HERE.parent.parent.parent))
        finally:
            lab.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
