"""Monitoring: the event/job tree (the PHAT operators' view) and what feeds the web monitor."""
