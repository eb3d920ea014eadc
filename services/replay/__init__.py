"""Replay: a recorded day of the lake played through a broker as if live (`koabus broker --backend replay`)."""
