"""The catalog as Virtual Observatory services: TAP 1.1 (sync, async UWS, VOSI, TAP_SCHEMA),
cone search, SIA and cutouts, behind one ASGI app (:mod:`.app`)."""
