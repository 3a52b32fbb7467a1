import sys

from motor.bench.cli import main

sys.exit(main())
