"""``python -m matdesign …`` runs the ``matdesign`` command line (same as the console script)."""

import sys

from matdesign.cli.main import main

sys.exit(main())
