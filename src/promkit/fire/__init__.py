"""``promkit fire``: load-test a TSDB by replicating its real series through remote write.

Pipeline: discover series (``selection``) -> read their samples -> restamp
(``timestamps``) -> multiply by the replication labels (``replication``) -> send through
remote write under a token bucket (``ratelimit``) -> report (``report``).
"""
