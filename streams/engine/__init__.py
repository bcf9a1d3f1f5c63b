"""The batch engine every processor runs on, hosted inside the faust worker.

A stock faust agent spends ~75-80 µs of framework time per event on this hardware (see README), so the
processors (the projectors too, since stop 48) use a confluent-kafka batch consumer run as a faust ``app.task``
instead: consume a batch, decode it (poison records go to the DLQ), hand it to a pure-ish processor that writes
its sinks, and only then commit the batch's offsets. Delivery is at-least-once; every sink behind it is idempotent.
"""
