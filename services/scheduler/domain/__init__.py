"""The scheduler's rules: recurrence (cron in a time zone) and due entries (the clock: shared/clock.py). Plain Python."""
