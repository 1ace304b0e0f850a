"""Shutter's services. Each subpackage is one gRPC service; `runtime` is what they share."""
