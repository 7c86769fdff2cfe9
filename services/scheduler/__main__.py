"""`python -m services.scheduler migrate|api|worker|relay`."""

import sys

from services.scheduler.service import DEFINITION
from shared.runtime import main

sys.exit(main(DEFINITION))
