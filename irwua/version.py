"""irwua's version, written into every document it saves."""

__version__ = "0.1.0"
