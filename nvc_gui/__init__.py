"""nvc_gui: the NVC analyzer (a YUView-style desktop viewer of what nvc_core computes per frame)."""
