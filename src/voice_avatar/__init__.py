"""voice-avatar: a personal voice avatar that reads any message aloud in its owner's voice."""

__version__ = "0.1.0"
