"""Touchpoint's common library: messaging, outbox/inbox, database, config, auth, HTTP edge, logging, metrics.

Infrastructure only. It never imports a service and holds no business rules.
"""
