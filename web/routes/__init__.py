"""The screens' routers, one module per area."""
