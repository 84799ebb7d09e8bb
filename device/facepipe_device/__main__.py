"""``python -m facepipe_device``: the same as ``facepipe-device``."""

import sys

from facepipe_device.cli import main

sys.exit(main())
