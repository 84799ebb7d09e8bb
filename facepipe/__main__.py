"""``python -m facepipe``: the same as the ``facepipe`` command."""

import sys

from facepipe.cli.main import main

sys.exit(main())
