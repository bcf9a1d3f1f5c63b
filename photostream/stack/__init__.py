"""The local stack: real Kafka, Cassandra, Redis, S3 (SeaweedFS) and Prometheus on 127.0.0.1.

Each service installs itself into the git-ignored ``.stack/`` folder of the checkout, runs as a background
process whose pid is recorded, and reports health through a real protocol check.
"""
