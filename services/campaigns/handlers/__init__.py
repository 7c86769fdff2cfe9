"""Use cases of the campaigns service: one function per command or event, each taking a unit of work."""
