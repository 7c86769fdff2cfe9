"""`python -m services.contacts migrate|api|worker|relay`."""

import sys

from services.contacts.service import DEFINITION
from shared.runtime import main

sys.exit(main(DEFINITION))
