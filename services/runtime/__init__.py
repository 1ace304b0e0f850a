"""The one shared runtime: bootstrap, config, ids, auth, errors, channels, storage base, events.

Every service starts through `services.runtime.server.run_service`; nothing here is copied into a
service folder.
"""
