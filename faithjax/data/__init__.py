"""Corpora, tokenisation and encoding."""
