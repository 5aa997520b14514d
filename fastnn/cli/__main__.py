"""``python -m fastnn.cli``: the ``fastnn`` command."""

import sys

from . import main

sys.exit(main())
