"""``python -m facepipe``: the same as the ``facepipe`` command."""

import sys

from facepipe.cli import main

sys.exit(main())
