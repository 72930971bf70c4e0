# The database for the compose `pgtap` profile: the db service's image plus pgTAP, whose
# extension files must be on the database server (CREATE EXTENSION pgtap), and pg_prove,
# which runs tests/sql from a container of the same image. Test use only.
FROM pgvector/pgvector:0.8.2-pg17-trixie

# The PostgreSQL apt repository the image is built from keeps only current versions, so
# an exact pin would stop building as soon as it moves on.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        postgresql-17-pgtap libtap-parser-sourcehandler-pgtap-perl \
    && rm -rf /var/lib/apt/lists/*
