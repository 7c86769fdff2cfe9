"""Use cases of the contacts service: one function per command or event, each taking a connection or unit of work."""
