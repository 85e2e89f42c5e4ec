"""Parsers of the reference formats paperchat reads besides its own listings and JSONL:
BibTeX exports of reference managers and the arXiv metadata snapshot."""
