"""Every query the server runs, and nothing else: services call these, routers never do.

Functions take an open `AsyncConnection` (the service owns the transaction) and
return row mappings. Dialect differences live in `_dialect`.
"""
