"""The service's routers, one per concern; ``create_app`` includes them, each built on the shared
:class:`~vipguard.service.state.ServiceState`."""
