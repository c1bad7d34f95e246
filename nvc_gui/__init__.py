"""nvc_gui: the NVC analyzer (a YUView-style desktop viewer of what nvc_core computes per frame)."""

from nvc_gui.qt_refcount import protect_singletons

protect_singletons()
