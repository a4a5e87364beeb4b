import sys

from twt_backend.cli import main

sys.exit(main())
