"""Start the NVC analyzer: `python main.py [INPUT] [options]` (see `python main.py --help`)."""

from nvc_gui.app import main

if __name__ == "__main__":
    raise SystemExit(main())
