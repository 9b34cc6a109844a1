"""`python -m clearline.demo.traffic`: see `clearline.demo.traffic.main`."""

from __future__ import annotations

import sys

from clearline.demo.traffic.main import main

sys.exit(main())
