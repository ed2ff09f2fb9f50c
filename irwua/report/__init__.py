"""Renderers: they only read an ``Analysis`` and never compute results of their own."""
