"""The panels of the analyzer, one per thing the user looks at (YUView-style): each is a widget with
`show_frame(FrameContext)`, so adding a panel does not touch the others."""
