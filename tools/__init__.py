"""Touchpoint's clients: the `touchpoint` command, the local runner behind `./scripts/up`, its mail and
SMS catchers, and the demo seed.

They talk to the services the way any client does (HTTP, the databases and broker for admin set-up)
and import `shared/`; no service imports this package.
"""
