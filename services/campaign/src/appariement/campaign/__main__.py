"""`python -m appariement.campaign [--only api|workers]`."""

from appariement.campaign.spec import SPEC
from appariement.common.service import main

if __name__ == "__main__":
    raise SystemExit(main(SPEC))
