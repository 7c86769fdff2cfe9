"""`python -m services.channels migrate|api|worker|relay`."""

import sys

from services.channels.service import DEFINITION
from shared.runtime import main

sys.exit(main(DEFINITION))
