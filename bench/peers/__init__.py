"""The peers koabus is measured against (bench/bench_peers.py): a KOAPY-style gRPC server and a bare pyzmq
echo and publisher, each run as its own process on 127.0.0.1, and the subscriber processes of every design.
"""
