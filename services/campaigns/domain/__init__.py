"""The campaign rules: definitions, the enrollment engine and templates, as plain Python.

Nothing here imports Flask, SQLAlchemy or pika; handlers do the I/O and ask these modules
for decisions.
"""
