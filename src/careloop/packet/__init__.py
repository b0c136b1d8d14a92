"""The case packet (issue 11): one PDF that proves a case, made from what every domain
says about it through their services: a cover, the timeline answering the four
questions, contacts and escalations with their promises, the denial and appeals, and
every document appended. Its SHA-256 is recorded on the timeline. Other code uses
``service`` and ``rules``."""

from careloop.packet.rules import SECTIONS
from careloop.packet.service import Packet, build_packet

__all__ = ["SECTIONS", "Packet", "build_packet"]
