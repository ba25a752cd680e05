"""The model server: loading (`loader`), lookup (`manager`), one module per
RPC (`predict`, `metadata`, `status`), gRPC wiring (`services`,
`grpc_server`) and the command line (`flags`, `main`)."""
