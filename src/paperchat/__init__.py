"""paperchat: chat with a collection of research papers; every answer cites its sources."""

__version__ = "0.1.0"
