"""Renderers: JSON files, the HTML pages, charts, diagrams and terminal text. They read analyses,
comparisons and trackers through small protocols (``protocol``) and compute no results of their
own."""
