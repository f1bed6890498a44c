"""``T.signal``: signal-processing ops (pooling lives in ``pool``)."""
