"""``python -m fleetpulse_dr`` is the ``fleetpulse-dr`` command."""

import sys

from fleetpulse_dr.cli import main

sys.exit(main())
