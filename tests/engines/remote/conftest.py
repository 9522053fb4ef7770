from tests.support.upstream_fixtures import fleet, llamacpp_replicas, peer_runner

__all__ = ["fleet", "llamacpp_replicas", "peer_runner"]
