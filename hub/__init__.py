"""Hub: a real-time collaboration hub where AI agents work together and humans watch."""

__version__ = "0.1.0"
