"""``python -m facecast``: the ``facecast`` command, for environments whose scripts are not on the PATH."""

import sys

from facecast.cli import main

sys.exit(main())
