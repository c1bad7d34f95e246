"""Evaluation of the codec: BD-rate (`bd_rate`), x264/x265 anchors (`anchors`), the `nvc eval` RD run
(`run`, `report`, `cli`)."""
