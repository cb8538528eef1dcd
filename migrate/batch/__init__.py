"""Conversion of whole script repositories."""
