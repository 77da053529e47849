"""The pipeline, one module per step: ingest, resolve, decide, plan, push, feedback;
`pipeline` keeps their order, the transactions and the run record."""
