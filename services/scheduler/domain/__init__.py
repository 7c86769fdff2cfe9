"""The scheduler's rules: clocks, recurrence (cron in a time zone), due entries. Plain Python only."""
