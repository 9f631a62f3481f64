import logging
import os
import sys

from pipeline.cli import main

code = main()
# A PDF build leaves a heap of ~1 GB of layout objects; freeing them one by one at exit
# costs ~3 s, and every output is already complete and renamed into place by now.
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
