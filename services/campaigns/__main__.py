"""`python -m services.campaigns migrate|api|worker|relay`."""

import sys

from services.campaigns.service import DEFINITION
from shared.runtime import main

sys.exit(main(DEFINITION))
