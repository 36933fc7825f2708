"""Checks on produced speech: how natural it sounds (DNSMOS)."""

from voice_avatar.quality.dnsmos import dnsmos

__all__ = ["dnsmos"]
