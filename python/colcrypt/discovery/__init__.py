"""Sensitive-data discovery (issue 3, in progress): validators and column-name hints.

Pure Python with no database imports, so that PL/Python can run it inside the server and unit
tests can import it directly.
"""
