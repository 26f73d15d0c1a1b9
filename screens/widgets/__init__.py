"""Reusable widgets of the dashboard's screens: the virtual table and the data
panel built on it, the site header, the key bar, and scrolling containers with
the registry's keys. Their styles are in themes/widgets.tcss."""
