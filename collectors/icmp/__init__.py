"""ICMP echo checks: `packets` (echo requests and the reply table), `pinger` (one socket per
address family for every echo of the loop), `collector` (a ping as a CheckResult)."""

from collectors.icmp.collector import IcmpCollector as IcmpCollector
from collectors.icmp.packets import EchoBatch as EchoBatch
from collectors.icmp.packets import EchoTable as EchoTable
from collectors.icmp.packets import PingReply as PingReply
from collectors.icmp.packets import canonical_address as canonical_address
from collectors.icmp.packets import checksum as checksum
from collectors.icmp.pinger import IcmpUnavailable as IcmpUnavailable
from collectors.icmp.pinger import Pinger as Pinger
